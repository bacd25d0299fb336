"""Video analysis on the shared clip and on videos derived from it: tracks, limits, errors."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from matching.engine import Box
from matching.engine.dlib import DlibFaceEngine
from matching.video import (
    AnalysisCancelled,
    CorruptVideo,
    NotAVideo,
    VideoAnalysis,
    VideoTooLarge,
    VideoTooLong,
    analyse_video,
)
from tests.matching.conftest import read_rgb
from tests.matching.video_helpers import (
    remux_faststart,
    set_display_rotation,
    solid_frames,
    write_video,
)

CLIP = "video/short_hamilton_clip.mp4"


@pytest.fixture(scope="session")
def clip(faces: Path) -> Path:
    return faces / CLIP


@pytest.fixture(scope="session")
def lin_reference(engine: DlibFaceEngine, faces: Path) -> np.ndarray:
    (face,) = engine.analyse(read_rgb(faces / "people" / "lin_manuel_miranda" / "lin1.png"))
    return face.vector


@pytest.fixture(scope="session")
def clip_analysis(engine: DlibFaceEngine, clip: Path) -> tuple[VideoAnalysis, list[int]]:
    percents: list[int] = []
    return analyse_video(clip, engine=engine, progress=percents.append), percents


def best_distance(engine: DlibFaceEngine, track, reference: np.ndarray) -> float:
    return min(engine.distance(vector, reference) for vector in track.embeddings)


def test_the_clip_has_a_track_of_lin_manuel_miranda_from_the_start_to_about_seven_seconds(
    engine, clip_analysis, lin_reference
):
    analysis, _ = clip_analysis
    matching = [
        t
        for t in analysis.tracks
        if engine.classify(best_distance(engine, t, lin_reference)) == "match"
    ]
    assert len(matching) == 1, [t.as_dict() for t in analysis.tracks]
    (lin,) = matching
    assert lin.start_s <= 0.5
    assert 6.0 <= lin.end_s <= 7.6
    assert 1 <= len(lin.embeddings) <= 8
    assert lin.best_quality > 0
    top, right, bottom, left = lin.box
    assert 0 <= left < right <= analysis.width and 0 <= top < bottom <= analysis.height


def test_the_face_near_the_end_of_the_clip_is_not_lin_manuel_miranda(
    engine, clip_analysis, lin_reference
):
    analysis, _ = clip_analysis
    late = [t for t in analysis.tracks if t.start_s >= 7.0]
    assert late, "the audience face from about 7.5 s was not found"
    for track in late:
        assert engine.classify(best_distance(engine, track, lin_reference)) != "match"


def test_the_clip_is_sampled_not_decoded_into_embeddings_frame_by_frame(clip_analysis):
    analysis, _ = clip_analysis
    assert analysis.fps == pytest.approx(29.97, abs=0.01)
    assert analysis.duration_s == pytest.approx(9.2, abs=0.1)
    # 275 frames; one sample every 0.5 s, and a handful of embeddings for the whole clip.
    assert analysis.frames_sampled == pytest.approx(9.2 / analysis.sample_every_s, abs=2)
    assert analysis.embeddings_computed <= 4 * len(analysis.tracks) + 4


def test_progress_rises_monotonically_to_100(clip_analysis):
    _, percents = clip_analysis
    assert percents[0] == 0 and percents[-1] == 100
    assert percents == sorted(set(percents))
    assert len(percents) >= 10


def test_cancelling_stops_the_analysis_at_the_next_sample(engine, clip):
    asked = 0
    percents: list[int] = []

    def should_cancel() -> bool:
        nonlocal asked
        asked += 1
        return asked > 4

    with pytest.raises(AnalysisCancelled):
        analyse_video(clip, engine=engine, progress=percents.append, should_cancel=should_cancel)
    assert asked == 5
    assert percents[-1] < 50


@pytest.fixture(scope="session")
def twelve_minute_video(derived_dir: Path) -> Path:
    # 12 minutes at one frame a second, 64x48: a few kilobytes, encoded in a second.
    return write_video(derived_dir / "twelve_minutes.mp4", solid_frames(12 * 60), fps=1)


def test_a_video_over_the_length_limit_is_refused_from_its_header(twelve_minute_video):
    with pytest.raises(VideoTooLong) as raised:
        analyse_video(twelve_minute_video, max_seconds=600, engine=_NoFaces())
    assert raised.value.message == "The video is 12 min long; the limit is 10 min."
    assert raised.value.status_code == 413


def test_a_short_limit_speaks_in_seconds(engine, clip):
    with pytest.raises(VideoTooLong) as raised:
        analyse_video(clip, engine=engine, max_seconds=5)
    assert raised.value.message == "The video is 9.2 s long; the limit is 5 s."


def test_a_video_over_the_size_limit_is_refused_before_it_is_opened(engine, clip):
    with pytest.raises(VideoTooLarge) as raised:
        analyse_video(clip, engine=engine, max_bytes=100 * 1024)
    assert raised.value.message == "The video file is 600 kB; the limit is 100 kB."


@pytest.mark.parametrize(
    ("name", "content", "detected"),
    [
        ("notes.mp4", b"Meeting notes, not a video\n" * 40, "text"),
        ("empty.mp4", b"", "empty file"),
        ("playlist.mp4", b"#EXTM3U\n#EXTINF:10,\nfile:///etc/passwd\n", "text"),
    ],
)
def test_a_file_that_is_not_a_video_is_refused_with_what_it_looks_like(
    engine, tmp_path, name, content, detected
):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(NotAVideo) as raised:
        analyse_video(path, engine=engine)
    assert raised.value.message == f"The file is not a video we can read (detected: {detected})."
    assert raised.value.status_code == 415


def test_a_photo_named_like_a_video_is_refused(engine, tmp_path, faces):
    path = tmp_path / "photo.mp4"
    path.write_bytes((faces / "people" / "obama" / "obama.jpg").read_bytes())
    with pytest.raises(NotAVideo, match=r"detected: JPEG image"):
        analyse_video(path, engine=engine)


def test_a_truncated_mp4_with_its_index_at_the_end_is_corrupt(engine, tmp_path, clip):
    data = clip.read_bytes()
    path = tmp_path / "cut.mp4"
    path.write_bytes(data[: len(data) * 6 // 10])
    with pytest.raises(CorruptVideo) as raised:
        analyse_video(path, engine=engine)
    assert raised.value.message == "The video is truncated or corrupt: its header cannot be read."
    assert raised.value.status_code == 400


def test_a_truncated_streaming_mp4_is_corrupt_not_a_shorter_video(engine, tmp_path, clip):
    faststart = remux_faststart(clip, tmp_path / "faststart.mp4")
    data = faststart.read_bytes()
    assert data.find(b"moov") < data.find(b"mdat")
    path = tmp_path / "cut_faststart.mp4"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptVideo, match=r"truncated or corrupt"):
        analyse_video(path, engine=engine)


def test_the_streaming_layout_of_the_clip_analyses_like_the_original(
    engine, tmp_path, clip, clip_analysis
):
    faststart = remux_faststart(clip, tmp_path / "faststart.mp4")
    analysis = analyse_video(faststart, engine=engine)
    original, _ = clip_analysis
    assert [(t.start_s, t.end_s) for t in analysis.tracks] == [
        (t.start_s, t.end_s) for t in original.tracks
    ]


def test_a_portrait_phone_video_is_turned_upright_before_faces_are_looked_for(
    engine, derived_dir, faces
):
    """Stored as landscape frames (the face lying on its side) with a display matrix saying
    "turn a quarter counter-clockwise", as phones record portrait video."""
    upright = read_rgb(faces / "people" / "obama" / "obama2.jpg")
    height, width = (upright.shape[0] // 2) * 2, (upright.shape[1] // 2) * 2
    upright = upright[:height, :width]
    stored = np.ascontiguousarray(np.rot90(upright, -1))
    assert engine.detect(stored) == []  # lying on its side, the face is invisible to HOG
    path = write_video(derived_dir / "portrait.mp4", [stored] * 10, fps=5)
    set_display_rotation(path, counter_clockwise=90)

    analysis = analyse_video(path, engine=engine)

    assert (analysis.width, analysis.height) == (width, height)
    (track,) = analysis.tracks
    (reference,) = engine.analyse(upright)
    assert engine.distance(track.embeddings[0], reference.vector) < 0.2
    # Detected on a shrunk copy, so not the same pixels, but the same place in upright terms.
    assert Box.from_list(track.box).iou(reference.box) > 0.5


class _NoFaces(DlibFaceEngine):
    """An engine that never finds a face, for tests about reading, not recognising."""

    def detect(self, image):
        return []


def test_frames_too_large_to_decode_safely_are_refused_from_the_header(engine, clip):
    with pytest.raises(VideoTooLarge) as raised:
        analyse_video(clip, engine=engine, max_frame_pixels=200_000)
    assert raised.value.message == (
        "The video's frames are 640x360; the limit is 0.2 megapixels per frame."
    )


def test_a_sound_only_mp4_has_no_video_track(engine, derived_dir):
    path = derived_dir / "sound.m4a"
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("aac", rate=16000)
        samples = np.zeros((1, 16000), dtype=np.float32)
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
        frame.sample_rate = 16000
        for packet in [*stream.encode(frame), *stream.encode()]:
            container.mux(packet)
    with pytest.raises(NotAVideo) as raised:
        analyse_video(path, engine=engine)
    assert raised.value.message == "The file has no video track."
