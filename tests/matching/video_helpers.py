"""Videos the video tests build from the shared clip and photos (nothing is downloaded)."""

from __future__ import annotations

import struct
from collections.abc import Iterable
from pathlib import Path

import av
import numpy as np


def write_video(
    path: Path,
    frames: Iterable[np.ndarray],
    *,
    fps: int,
    codec: str = "libx264",
    options: dict[str, str] | None = None,
) -> Path:
    """Encode RGB frames (all the same even size) into an MP4 at ``path``."""
    with av.open(str(path), mode="w", format="mp4", options=options or {}) as container:
        stream = None
        for rgb in frames:
            if stream is None:
                stream = container.add_stream(codec, rate=fps)
                stream.width, stream.height = rgb.shape[1], rgb.shape[0]
                stream.pix_fmt = "yuv420p"
                if codec == "libx264":
                    stream.options = {"preset": "ultrafast"}
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        if stream is not None:
            for packet in stream.encode():
                container.mux(packet)
    return path


def solid_frames(count: int, *, size: tuple[int, int] = (64, 48)) -> Iterable[np.ndarray]:
    width, height = size
    for index in range(count):
        yield np.full((height, width, 3), (index * 7) % 256, dtype=np.uint8)


def remux_faststart(source: Path, target: Path) -> Path:
    """The same packets with the index ("moov") first, as streaming services write MP4s."""
    with (
        av.open(str(source)) as src,
        av.open(str(target), mode="w", format="mp4", options={"movflags": "faststart"}) as dst,
    ):
        in_stream = src.streams.video[0]
        out_stream = dst.add_stream_from_template(in_stream)
        for packet in src.demux(in_stream):
            if packet.dts is None:
                continue
            packet.stream = out_stream
            dst.mux(packet)
    return target


def set_display_rotation(path: Path, *, counter_clockwise: int) -> Path:
    """Write a display matrix into the MP4's track header (``tkhd``), as phones do for
    portrait video: the player turns the stored frames by that many degrees."""
    matrices = {
        90: (0, -0x10000, 0, 0x10000, 0, 0, 0, 0, 0x40000000),
        -90: (0, 0x10000, 0, -0x10000, 0, 0, 0, 0, 0x40000000),
    }
    data = bytearray(path.read_bytes())
    # tkhd v0: type, version/flags, 5 x 32-bit fields, 8 reserved, 4 x 16-bit: the matrix is
    # 44 bytes after the box type.
    matrix_at = data.index(b"tkhd") + 44
    data[matrix_at : matrix_at + 36] = struct.pack(">9i", *matrices[counter_clockwise])
    path.write_bytes(bytes(data))
    return path
