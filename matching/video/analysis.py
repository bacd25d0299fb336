"""Find the faces in a video and follow each one through time, embedding it only a few times.

Checking every frame the way a photo is checked would cost a detection and an embedding per face
per frame (25-30 a second). Faces stay on screen for seconds, so instead:

1. Sample: decode the stream once and look at one frame every ``sample_every_s`` seconds, at
   reduced resolution (longest side ``detect_side`` px), with the engine's detector.
2. Track: a detection continues the track whose last box it overlaps or is close to
   (``tracking.associate``); a track survives up to ``max_gap_s`` without detections (a turned
   head, a hand in front of the face).
3. Embed sparingly, from the full-resolution frame: when a track starts, again every
   ``embed_every_s`` while it has fewer than ``max_embeddings``, and when its face becomes clearly
   larger (a closer, better view). At a cut (the picture changes abruptly) every track is
   embedded again, so that two people filmed at the same spot in consecutive shots do not become
   one track: an embedding farther than the engine's review threshold from the track's own
   starts a new track.
4. Re-identify: a face that continues no track is compared with the tracks already seen; within
   ``reid_threshold`` of one it continues that track, so a person who leaves (or whose shot is
   interrupted by a cut-away) and comes back is one track with several on-screen spans.

The result, per track: when it was on screen, a representative box, and its best few
embeddings, which the matching service compares with the registry as it would a photo's faces.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from matching.engine import Box, FaceEmbedding, FaceEngine, get_engine
from matching.video.errors import AnalysisCancelled
from matching.video.reader import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_FRAME_PIXELS,
    DEFAULT_MAX_SECONDS,
    SampledFrame,
    VideoReader,
)
from matching.video.tracking import associate, frame_change, scale_box, thumbnail

DEFAULT_SAMPLE_EVERY_S = 0.5
DEFAULT_DETECT_SIDE = 640
DEFAULT_MAX_EMBEDDINGS = 4
DEFAULT_EMBED_EVERY_S = 2.0
DEFAULT_MAX_GAP_S = 1.0
# A new view is worth embedding when the face's area grew by this factor since the best one.
_LARGER_FACE = 1.5
# Thumbnail difference (0..255) above which two consecutive samples are taken to be a cut.
_CUT_CHANGE = 25.0


@dataclass(slots=True)
class Track:
    """One face followed through the video.

    ``start_s``/``end_s``: first and last sample it was seen in (seconds from the first frame);
    ``spans``: the on-screen intervals (a gap longer than ``max_gap_s`` starts a new one).
    ``box``: the representative box (of the best embedding), ``[top, right, bottom, left]`` in
    full-frame pixels; ``boxes``, ``times`` and ``qualities`` line up with ``embeddings``,
    which are sorted best quality first.
    """

    track_id: int
    start_s: float
    end_s: float
    box: list[int]
    embeddings: list[np.ndarray]
    best_quality: float
    boxes: list[list[int]] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    qualities: list[float] = field(default_factory=list)
    spans: list[tuple[float, float]] = field(default_factory=list)
    detections: int = 0

    def as_dict(self) -> dict:
        """JSON-ready, without the vectors."""
        return {
            "track_id": self.track_id,
            "start_s": round(self.start_s, 3),
            "end_s": round(self.end_s, 3),
            "spans": [[round(a, 3), round(b, 3)] for a, b in self.spans],
            "box": self.box,
            "best_quality": round(self.best_quality, 4),
            "embeddings": len(self.embeddings),
            "detections": self.detections,
        }


@dataclass(slots=True)
class VideoAnalysis:
    duration_s: float
    fps: float
    frames_sampled: int
    tracks: list[Track]
    width: int = 0
    height: int = 0
    sample_every_s: float = DEFAULT_SAMPLE_EVERY_S
    embeddings_computed: int = 0
    elapsed_s: float = 0.0


@dataclass(slots=True)
class _Embedded:
    vector: np.ndarray
    quality: float
    box: Box
    time_s: float


@dataclass(slots=True)
class _TrackState:
    track_id: int
    last_box: Box
    last_seen: float
    spans: list[list[float]] = field(default_factory=list)
    embedded: list[_Embedded] = field(default_factory=list)
    last_embed_s: float = -1e9
    best_area: int = 0
    detections: int = 0

    def see(self, box: Box, time_s: float, max_gap_s: float) -> None:
        if self.spans and time_s - self.spans[-1][1] <= max_gap_s + 1e-6:
            self.spans[-1][1] = time_s
        else:
            self.spans.append([time_s, time_s])
        self.last_box = box
        self.last_seen = time_s
        self.detections += 1

    def nearest(self, engine: FaceEngine, vector: np.ndarray) -> float:
        if not self.embedded:
            return float("inf")
        gallery = np.stack([e.vector for e in self.embedded])
        return float(engine.distances(vector, gallery).min())

    def keep(self, face: FaceEmbedding, time_s: float, max_embeddings: int) -> None:
        self.embedded.append(_Embedded(face.vector, face.quality.score, face.box, time_s))
        self.embedded.sort(key=lambda e: -e.quality)
        del self.embedded[max_embeddings:]
        self.last_embed_s = time_s
        self.best_area = max(self.best_area, face.box.area)

    def overlaps(self, other: _TrackState) -> bool:
        """Whether the two were ever on screen at the same time (then they are two people)."""
        return any(a <= d and c <= b for a, b in self.spans for c, d in other.spans)

    def absorb(self, other: _TrackState, max_gap_s: float) -> None:
        """Take over a later track of the same person: its spans and all its embeddings."""
        spans: list[list[float]] = []
        for start, end in sorted(self.spans + other.spans):
            if spans and start - spans[-1][1] <= max_gap_s + 1e-6:
                spans[-1][1] = max(spans[-1][1], end)
            else:
                spans.append([start, end])
        self.spans = spans
        # Kept whole (not cut back to max_embeddings): evidence from either part must survive.
        self.embedded = sorted(self.embedded + other.embedded, key=lambda e: -e.quality)
        self.detections += other.detections
        if other.last_seen > self.last_seen:
            self.last_seen, self.last_box = other.last_seen, other.last_box

    def to_track(self, track_id: int) -> Track:
        best = self.embedded[0] if self.embedded else None
        return Track(
            track_id=track_id,
            start_s=self.spans[0][0],
            end_s=self.spans[-1][1],
            box=(best.box if best else self.last_box).as_list(),
            embeddings=[e.vector for e in self.embedded],
            best_quality=best.quality if best else 0.0,
            boxes=[e.box.as_list() for e in self.embedded],
            times=[round(e.time_s, 3) for e in self.embedded],
            qualities=[e.quality for e in self.embedded],
            spans=[(a, b) for a, b in self.spans],
            detections=self.detections,
        )


def analyse_video(
    path: str | os.PathLike[str],
    *,
    engine: FaceEngine | None = None,
    sample_every_s: float = DEFAULT_SAMPLE_EVERY_S,
    progress: Callable[[int], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
    max_seconds: float = DEFAULT_MAX_SECONDS,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_frame_pixels: int = DEFAULT_MAX_FRAME_PIXELS,
    detect_side: int = DEFAULT_DETECT_SIDE,
    max_embeddings: int = DEFAULT_MAX_EMBEDDINGS,
    embed_every_s: float = DEFAULT_EMBED_EVERY_S,
    max_gap_s: float = DEFAULT_MAX_GAP_S,
    reid_threshold: float | None = None,
) -> VideoAnalysis:
    """Every face track of the video at ``path``, with a few embeddings each.

    The limits are checked from the file size and header first (``VideoTooLarge``,
    ``VideoTooLong``); unreadable input raises ``NotAVideo`` or ``CorruptVideo``. ``progress`` is
    called with whole percents, increasing, ending with 100; ``should_cancel`` is asked before
    every sample and a true answer raises ``AnalysisCancelled``. ``reid_threshold`` (default:
    the engine's match threshold) is the distance within which a face seen again after a gap
    continues an earlier track.
    """
    started = time.perf_counter()
    engine = engine or get_engine()
    reid = engine.threshold if reid_threshold is None else reid_threshold
    if should_cancel is not None and should_cancel():
        raise AnalysisCancelled("cancelled before the video was opened")
    with VideoReader(
        path, max_seconds=max_seconds, max_bytes=max_bytes, max_frame_pixels=max_frame_pixels
    ) as reader:
        info = reader.info
        tracker = _Tracker(
            engine=engine,
            detect_side=detect_side,
            max_embeddings=max_embeddings,
            embed_every_s=embed_every_s,
            max_gap_s=max_gap_s,
            reid_threshold=reid,
        )
        reported = -1
        if progress is not None:
            progress(0)
            reported = 0
        last_time = 0.0
        size = (info.width, info.height)
        for sample in reader.frames(sample_every_s):
            if should_cancel is not None and should_cancel():
                raise AnalysisCancelled(f"cancelled at {sample.time_s:.1f} s")
            tracker.add(sample)
            last_time, size = sample.time_s, sample.size
            if progress is not None and info.duration_s:
                percent = min(99, int((sample.time_s + sample_every_s) / info.duration_s * 100))
                if percent > reported:
                    progress(percent)
                    reported = percent
        tracks = tracker.tracks()
    if progress is not None:
        progress(100)
    return VideoAnalysis(
        duration_s=round(info.duration_s if info.duration_s else last_time, 3),
        fps=info.fps,
        frames_sampled=tracker.samples,
        tracks=tracks,
        width=size[0],
        height=size[1],
        sample_every_s=sample_every_s,
        embeddings_computed=tracker.embeddings_computed,
        elapsed_s=round(time.perf_counter() - started, 3),
    )


class _Tracker:
    def __init__(
        self,
        *,
        engine: FaceEngine,
        detect_side: int,
        max_embeddings: int,
        embed_every_s: float,
        max_gap_s: float,
        reid_threshold: float,
    ) -> None:
        self.engine = engine
        self.detect_side = detect_side
        self.max_embeddings = max_embeddings
        self.embed_every_s = embed_every_s
        self.max_gap_s = max_gap_s
        self.reid_threshold = reid_threshold
        self.states: list[_TrackState] = []
        self.samples = 0
        self.embeddings_computed = 0
        self._previous_thumb: np.ndarray | None = None

    def add(self, sample: SampledFrame) -> None:
        self.samples += 1
        now = sample.time_s
        small = sample.rgb(max_side=self.detect_side)
        width, height = sample.size
        factor = width / small.shape[1]
        thumb = thumbnail(small)
        cut = frame_change(self._previous_thumb, thumb) > _CUT_CHANGE
        self._previous_thumb = thumb
        detections = [
            scale_box(box, factor, width=width, height=height) for box in self.engine.detect(small)
        ]
        if not detections:
            return

        active = [s for s in self.states if now - s.last_seen <= self.max_gap_s + 1e-6]
        pairs = associate([s.last_box for s in active], detections)
        # Each detection with the track it continues by position, or None.
        plan: list[tuple[Box, _TrackState | None]] = []
        for index, box in enumerate(detections):
            state = active[pairs[index]] if index in pairs else None
            plan.append((box, state))
        to_embed = [
            i
            for i, (box, state) in enumerate(plan)
            if state is None or self._wants(state, box, now, cut)
        ]
        faces: dict[int, FaceEmbedding] = {}
        if to_embed:
            full = sample.rgb()
            embedded = self.engine.embed(full, [plan[i][0] for i in to_embed])
            self.embeddings_computed += len(embedded)
            faces = dict(zip(to_embed, embedded, strict=True))

        updated: set[int] = set()
        unmatched: list[tuple[Box, FaceEmbedding]] = []
        for index, (box, state) in enumerate(plan):
            face = faces.get(index)
            # The same place but, by its embedding, not the same person: a cut between two
            # people, or two people crossing. Treat it as a face that continues no track.
            if (
                state is not None
                and face is not None
                and state.embedded
                and state.nearest(self.engine, face.vector) > self.engine.review_threshold
            ):
                unmatched.append((box, face))
                continue
            if state is None:
                assert face is not None
                unmatched.append((box, face))
                continue
            state.see(box, now, self.max_gap_s)
            updated.add(id(state))
            if face is not None:
                state.keep(face, now, self.max_embeddings)

        for box, face in unmatched:
            state = self._reidentify(face, exclude=updated)
            if state is None:
                state = _TrackState(track_id=len(self.states) + 1, last_box=box, last_seen=now)
                self.states.append(state)
            state.see(box, now, self.max_gap_s)
            updated.add(id(state))
            state.keep(face, now, self.max_embeddings)

    def _wants(self, state: _TrackState, box: Box, now: float, cut: bool) -> bool:
        if cut or not state.embedded:
            return True
        if box.area >= _LARGER_FACE * state.best_area:
            return True
        return (
            len(state.embedded) < self.max_embeddings
            and now - state.last_embed_s >= self.embed_every_s - 1e-6
        )

    def _reidentify(self, face: FaceEmbedding, *, exclude: set[int]) -> _TrackState | None:
        best, best_distance = None, self.reid_threshold
        for state in self.states:
            if id(state) in exclude:
                continue
            distance = state.nearest(self.engine, face.vector)
            if distance <= best_distance:
                best, best_distance = state, distance
        return best

    def tracks(self) -> list[Track]:
        """The tracks in order of appearance, after joining tracks of one person (see _join)."""
        ordered = sorted((s for s in self.states if s.spans), key=lambda s: s.spans[0][0])
        joined: list[_TrackState] = []
        for state in ordered:
            target = self._join_target(joined, state)
            if target is None:
                joined.append(state)
            else:
                target.absorb(state, self.max_gap_s)
        return [state.to_track(number) for number, state in enumerate(joined, start=1)]

    def _join_target(self, earlier: list[_TrackState], state: _TrackState) -> _TrackState | None:
        """The earlier track this one continues, judged on all their embeddings at once.

        Live re-identification sees only a track's first embedding, often a poor one (the face
        still turning towards the camera); here each pair of tracks that were never on screen at
        the same time is compared on its closest pair of embeddings.
        """
        best, best_distance = None, self.reid_threshold
        for candidate in earlier:
            if candidate.overlaps(state) or not candidate.embedded or not state.embedded:
                continue
            gallery = np.stack([e.vector for e in candidate.embedded])
            distance = min(
                float(self.engine.distances(e.vector, gallery).min()) for e in state.embedded
            )
            if distance <= best_distance:
                best, best_distance = candidate, distance
        return best
