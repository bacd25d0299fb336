"""Open a video safely, read its metadata, and yield frames at regular sample times.

Untrusted files only ever reach three FFmpeg demuxers (MP4/QuickTime, Matroska/WebM, AVI), chosen
from the file's first bytes, never from its name: FFmpeg's other demuxers include playlists (HLS,
concat) that open further files or URLs named inside the upload. The limits (bytes, seconds, frame
size) are checked from the file size and the container's header before a single frame is decoded;
a container that states no duration is stopped as soon as decoding passes the limit.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.error
import numpy as np

from matching.lib.imaging import describe_content
from matching.video.errors import CorruptVideo, NotAVideo, VideoTooLarge, VideoTooLong

logger = logging.getLogger(__name__)

#: Defaults matching the settings ``MAX_VIDEO_SECONDS`` / ``MAX_VIDEO_BYTES``; callers pass those.
DEFAULT_MAX_SECONDS = 600
DEFAULT_MAX_BYTES = 500 * 1024 * 1024
#: 4096x2304: every common format up to DCI 4K. Larger frames are refused before decoding.
DEFAULT_MAX_FRAME_PIXELS = 4096 * 2304

# ISO base media boxes a video file may start with; "ftyp" is by far the most common.
_ISO_FIRST_BOXES = {b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide"}
# "ftyp" brands that are still images, not video.
_ISO_IMAGE_BRANDS = {b"heic", b"heix", b"mif1", b"msf1", b"avif", b"avis"}
# FFmpeg's frame-decoding errors: any of them mid-stream means a damaged file.
_DECODE_ERRORS = (av.error.FFmpegError, EOFError)


@dataclass(frozen=True, slots=True)
class VideoInfo:
    """What the header says, before decoding."""

    container: str
    codec: str
    width: int
    height: int
    fps: float
    #: From the video stream (or the container); ``None`` when the file does not say.
    duration_s: float | None
    size_bytes: int


@dataclass(frozen=True, slots=True)
class SampledFrame:
    """One decoded frame: ``time_s`` from the first frame, ``frame`` still in FFmpeg's format.

    ``rgb()`` and ``size`` are of the picture as a player shows it: phones store portrait
    video as landscape frames plus a display matrix saying "turn a quarter"; upright faces are
    what the detector finds, so the turn is applied.
    """

    index: int
    time_s: float
    frame: av.VideoFrame

    @property
    def quarter_turns(self) -> int:
        """Counter-clockwise quarter turns that make the stored frame upright (0 to 3)."""
        rotation = getattr(self.frame, "rotation", 0) or 0
        return round(rotation / 90) % 4

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` as displayed."""
        width, height = self.frame.width, self.frame.height
        return (height, width) if self.quarter_turns % 2 else (width, height)

    def rgb(self, *, max_side: int | None = None) -> np.ndarray:
        """The upright frame as ``(H, W, 3)`` uint8 RGB, shrunk (by FFmpeg's scaler) so that
        its longest side is at most ``max_side``."""
        width, height = self.frame.width, self.frame.height
        scale = 1.0 if max_side is None else min(1.0, max_side / max(width, height))
        if scale >= 1.0:
            pixels = self.frame.to_ndarray(format="rgb24")
        else:
            pixels = self.frame.reformat(
                width=max(2, round(width * scale)),
                height=max(2, round(height * scale)),
                format="rgb24",
                interpolation="AREA",
            ).to_ndarray()
        turns = self.quarter_turns
        return np.ascontiguousarray(np.rot90(pixels, turns)) if turns else pixels


def human_duration(seconds: float) -> str:
    """``"12 min"``, ``"1.5 min"``, ``"45 s"``, ``"9.2 s"``: how a person would say it."""
    if seconds >= 60:
        minutes = seconds / 60
        return (
            f"{minutes:.0f} min" if abs(minutes - round(minutes)) < 0.05 else f"{minutes:.1f} min"
        )
    if seconds >= 10 or abs(seconds - round(seconds)) < 0.05:
        return f"{seconds:.0f} s"
    return f"{seconds:.1f} s"


def human_bytes(size: int) -> str:
    megabytes = size / (1024 * 1024)
    if megabytes >= 10:
        return f"{megabytes:.0f} MB"
    if megabytes >= 1:
        return f"{megabytes:.1f} MB"
    return f"{size / 1024:.0f} kB"


def sniff_container(head: bytes) -> str | None:
    """The FFmpeg demuxer for these first bytes: ``"mov"``, ``"matroska"``, ``"avi"`` or None."""
    if len(head) >= 12 and head[4:8] in _ISO_FIRST_BOXES:
        if head[4:8] == b"ftyp" and head[8:12] in _ISO_IMAGE_BRANDS:
            return None
        return "mov"
    if head.startswith(b"\x1aE\xdf\xa3"):
        return "matroska"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "avi"
    return None


def _log_decode_error(exc: BaseException) -> None:
    # FFmpeg's message names the file on the server ("...: '/var/media/checks/ab12.mp4'") and
    # PyAV's error class: useful in the log, never in the error a platform reads.
    logger.info("video refused as corrupt: %s: %s", type(exc).__name__, exc)


def check_size(path: Path, *, max_bytes: int) -> int:
    size = os.path.getsize(path)
    if size > max_bytes:
        raise VideoTooLarge(
            f"The video file is {human_bytes(size)}; the limit is {human_bytes(max_bytes)}.",
            detail={"size_bytes": size, "max_bytes": max_bytes},
        )
    return size


class VideoReader:
    """A video opened for analysis: ``info`` is read and checked on construction.

    Use as a context manager; ``frames(every_s)`` then decodes the whole stream once and yields
    the first frame at or after each multiple of ``every_s``.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        max_seconds: float = DEFAULT_MAX_SECONDS,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_frame_pixels: int = DEFAULT_MAX_FRAME_PIXELS,
    ) -> None:
        self.path = Path(path)
        self.max_seconds = max_seconds
        size = check_size(self.path, max_bytes=max_bytes)
        with open(self.path, "rb") as file:
            head = file.read(4096)
        demuxer = sniff_container(head)
        if demuxer is None:
            detected = describe_content(head)
            raise NotAVideo(
                f"The file is not a video we can read (detected: {detected}).",
                detail={"detected": detected},
            )
        try:
            self._container = av.open(str(self.path), mode="r", format=demuxer)
        except _DECODE_ERRORS as exc:
            _log_decode_error(exc)
            raise CorruptVideo(
                "The video is truncated or corrupt: its header cannot be read."
            ) from exc
        try:
            self.info = self._read_info(demuxer, size, max_frame_pixels)
        except BaseException:
            self._container.close()
            raise

    def _read_info(self, demuxer: str, size: int, max_frame_pixels: int) -> VideoInfo:
        container = self._container
        if not container.streams.video:
            raise NotAVideo(
                "The file has no video track.", detail={"streams": len(container.streams)}
            )
        stream = container.streams.video[0]
        self._stream = stream
        codec = stream.codec_context
        if codec is None or not codec.name:
            raise NotAVideo("The video uses a codec we cannot decode.")
        width, height = int(codec.width or 0), int(codec.height or 0)
        if width <= 0 or height <= 0:
            raise CorruptVideo("The video is truncated or corrupt: its frame size is missing.")
        if width * height > max_frame_pixels:
            raise VideoTooLarge(
                f"The video's frames are {width}x{height}; the limit is "
                f"{max_frame_pixels / 1_000_000:.1f} megapixels per frame.",
                detail={"width": width, "height": height, "max_frame_pixels": max_frame_pixels},
            )
        rate = stream.average_rate or stream.guessed_rate or Fraction(0)
        fps = float(rate) if rate else 0.0
        duration: float | None = None
        if stream.duration and stream.time_base:
            duration = float(stream.duration * stream.time_base)
        elif container.duration:
            duration = container.duration / av.time_base
        if duration is not None and (not math.isfinite(duration) or duration <= 0):
            duration = None
        if duration is not None and duration > self.max_seconds:
            raise VideoTooLong(
                f"The video is {human_duration(duration)} long; "
                f"the limit is {human_duration(self.max_seconds)}.",
                detail={"duration_s": round(duration, 3), "max_seconds": self.max_seconds},
            )
        return VideoInfo(
            container=demuxer,
            codec=codec.name,
            width=width,
            height=height,
            fps=round(fps, 3),
            duration_s=duration,
            size_bytes=size,
        )

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._container.close()

    def frames(self, every_s: float) -> Iterator[SampledFrame]:
        """Decode the stream once; yield the first frame at or after each multiple of ``every_s``.

        Raises ``CorruptVideo`` when decoding fails part way or the stream ends well before the
        duration its header announced (a cut-off upload), ``VideoTooLong`` when a file without a
        stated duration runs past the limit.
        """
        if every_s <= 0:
            raise ValueError("every_s must be positive")
        stream = self._stream
        # Frame-level threads: several frames decode at once, the frames come out in order.
        stream.thread_type = "AUTO"
        origin: float | None = None
        next_sample = 0.0
        index = 0
        last_time = 0.0
        try:
            for frame in self._container.decode(stream):
                if frame.time is None:
                    continue
                if origin is None:
                    origin = frame.time
                time_s = frame.time - origin
                last_time = max(last_time, time_s)
                if time_s > self.max_seconds:
                    raise VideoTooLong(
                        f"The video is longer than {human_duration(self.max_seconds)}; "
                        f"the limit is {human_duration(self.max_seconds)}.",
                        detail={"max_seconds": self.max_seconds},
                    )
                if time_s + 1e-6 < next_sample:
                    continue
                yield SampledFrame(index=index, time_s=time_s, frame=frame)
                index += 1
                # The next multiple of every_s strictly after this frame (skips any gap).
                next_sample = (math.floor(time_s / every_s + 1e-6) + 1) * every_s
        except _DECODE_ERRORS as exc:
            _log_decode_error(exc)
            raise CorruptVideo(
                f"The video is truncated or corrupt: decoding failed at {last_time:.1f} s.",
                detail={"at_s": round(last_time, 3)},
            ) from exc
        if origin is None:
            raise CorruptVideo("The video is truncated or corrupt: no frame could be decoded.")
        self._check_complete(last_time)

    def _check_complete(self, last_time: float) -> None:
        duration = self.info.duration_s
        if duration is None:
            return
        frame_s = 1.0 / self.info.fps if self.info.fps else 0.1
        # Containers round durations and may count audio beyond the last picture: allow a second.
        if last_time + frame_s < duration - max(1.0, 3 * frame_s):
            raise CorruptVideo(
                f"The video is truncated or corrupt: it stops at {last_time:.1f} s of "
                f"{duration:.1f} s.",
                detail={"last_frame_s": round(last_time, 3), "duration_s": round(duration, 3)},
            )
