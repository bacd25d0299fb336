"""Image bombs: time and peak memory to decode and analyse them, before and after the budget.

Run from the repository root:

    .venv/bin/python bench/image_bombs.py

Compares two decoding paths in the same run: "old" is ``matching/lib/imaging.py`` as it is on
``main`` (``git show main:...``, loaded from a temporary file as ``bench_old_imaging``; pass
``--old-ref`` for another commit), "new" is the checkout's. Each path decodes the bytes and
hands the pixels to the face engine, as an image check or an enrollment does; for the ten-photo
enrollment upload the new path shares one ``PixelBudget`` of the enrollment's size between the
photos, as ``person_enroll`` does.

Each case and path runs in a fresh child process, because Pillow and dlib allocate in C where
``tracemalloc`` cannot see: the figures are the growth of the child's peak RSS
(``ru_maxrss``) over its level after start-up and a warm-up analysis (models loaded), and
``tracemalloc``'s peak of Python allocations (numpy arrays included) during the case. The cases
are built in memory by this process and passed to the children through a temporary directory.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import os
import resource
import struct
import subprocess
import sys
import tempfile
import time
import tracemalloc
import zlib
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

FACES_DIR = Path(os.environ.get("FACES_DIR", REPO_ROOT.parent / "shared" / "faces"))
NORMAL_PHOTO = "people/obama/obama.jpg"
MAX_PIXELS = 40_000_000  # the MAX_IMAGE_PIXELS default
# lifecycle.services.enrollment.UPLOAD_MAX_PIXELS (not imported: that module needs Django set up).
UPLOAD_MAX_PIXELS = 120_000_000


def _png(width: int, height: int, *, bit_depth: int, colour_type: int, row: bytes) -> bytes:
    """A PNG of ``height`` copies of ``row``, written chunk by chunk (no bitmap is allocated)."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    compressor = zlib.compressobj(9)
    pixels = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def one_colour_png(width: int, height: int) -> bytes:
    return _png(width, height, bit_depth=8, colour_type=2, row=b"\x00" + b"\x78\x82\x8c" * width)


def one_bit_png(side: int) -> bytes:
    return _png(side, side, bit_depth=1, colour_type=0, row=b"\x00" * (1 + (side + 7) // 8))


def large_jpeg() -> bytes:
    """A real photo enlarged to 7000x5000 (35 megapixels, under the 40 MP limit)."""
    from PIL import Image

    with Image.open(FACES_DIR / "group" / "obama_and_biden.jpg") as photo:
        big = photo.convert("RGB").resize((7000, 5000), Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    big.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def build_cases() -> dict[str, list[bytes]]:
    """Each case is the list of images one request carries."""
    from PIL import Image

    bomb = one_colour_png(6300, 6300)
    normal = (FACES_DIR / NORMAL_PHOTO).read_bytes()
    with Image.open(io.BytesIO(normal)) as photo:
        width, height = photo.size
    return {
        f"normal photo ({width}x{height} JPEG)": [normal],
        "one-colour PNG 6300x6300": [bomb],
        "1-bit PNG 20000x20000": [one_bit_png(20_000)],
        "one-colour PNG 4000x3750 (15 MP)": [one_colour_png(4000, 3750)],
        "photo as JPEG 7000x5000": [large_jpeg()],
        "enrollment: 10 x PNG 6300x6300": [bomb] * 10,
        # Under the PNG limit, so decoded: the upload's budget (120 MP) stops the last two.
        "enrollment: 10 x PNG 4000x3750": [one_colour_png(4000, 3750)] * 10,
    }


def load_old_imaging(ref: str, directory: Path):
    source = subprocess.run(
        ["git", "show", f"{ref}:matching/lib/imaging.py"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    path = directory / "bench_old_imaging.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("bench_old_imaging", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(case_dir: Path, path_name: str, old_ref: str) -> dict:
    """In the child: decode and analyse every image of the case, report time and memory."""
    import numpy as np

    from matching.engine.dlib import DlibFaceEngine
    from matching.engine.errors import ImageError

    if path_name == "old":
        imaging = load_old_imaging(old_ref, case_dir)
        budget = None
    else:
        from matching.lib import imaging

        budget = imaging.PixelBudget(UPLOAD_MAX_PIXELS)
    images = [path.read_bytes() for path in sorted(case_dir.glob("image-*.bin"))]
    engine = DlibFaceEngine()
    engine.analyse(np.full((200, 200, 3), 128, dtype=np.uint8))  # load the models first

    baseline = peak_rss_mb()
    tracemalloc.start()
    decode_s = 0.0
    started = time.perf_counter()
    outcomes: list[str] = []
    for data in images:
        decode_started = time.perf_counter()
        try:
            if budget is None:
                pixels = imaging.decode_image(data, max_pixels=MAX_PIXELS)
            else:
                pixels = imaging.decode_image(data, max_pixels=MAX_PIXELS, budget=budget)
        except ImageError as error:
            decode_s += time.perf_counter() - decode_started
            outcomes.append(f"{error.status_code} {type(error).__name__}")
            continue
        decode_s += time.perf_counter() - decode_started
        faces = engine.analyse(pixels)
        outcomes.append(f"{pixels.shape[1]}x{pixels.shape[0]}, {len(faces)} face(s)")
        del pixels
    total_s = time.perf_counter() - started
    _current, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "outcome": _summarise(outcomes),
        "decode_s": decode_s,
        "total_s": total_s,
        "rss_growth_mb": peak_rss_mb() - baseline,
        "traced_peak_mb": traced_peak / 2**20,
    }


def _summarise(outcomes: list[str]) -> str:
    distinct = list(dict.fromkeys(outcomes))
    if len(outcomes) > 1 and len(distinct) == 1:
        return f"{len(outcomes)} x {distinct[0]}"
    return "; ".join(f"{outcomes.count(o)} x {o}" if len(outcomes) > 1 else o for o in distinct)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old-ref", default="main", help="commit of the old imaging.py")
    parser.add_argument("--child", nargs=2, metavar=("CASE_DIR", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_child(Path(args.child[0]), args.child[1], args.old_ref)))
        return

    rows = []
    with tempfile.TemporaryDirectory(prefix="image-bombs-") as temp:
        for number, (name, images) in enumerate(build_cases().items()):
            case_dir = Path(temp) / f"case-{number}"
            case_dir.mkdir()
            for index, data in enumerate(images):
                (case_dir / f"image-{index:02d}.bin").write_bytes(data)
            size_kb = sum(len(data) for data in images) / 1024
            for path_name in ("old", "new"):
                result = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--old-ref",
                        args.old_ref,
                        "--child",
                        str(case_dir),
                        path_name,
                    ],
                    cwd=REPO_ROOT,
                    capture_output=True,
                    text=True,
                    check=True,
                )
                figures = json.loads(result.stdout.strip().splitlines()[-1])
                rows.append({"case": name, "kb": size_kb, "path": path_name, **figures})
                print(f"  {name} [{path_name}]: {figures}", file=sys.stderr, flush=True)

    print(
        "| case | bytes | path | outcome | decode s | decode + analyse s | peak RSS growth MB "
        "| tracemalloc peak MB |"
    )
    print("|---|---:|---|---|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['case']} | {row['kb']:,.0f} kB | {row['path']} | {row['outcome']} "
            f"| {row['decode_s']:.2f} | {row['total_s']:.2f} | {row['rss_growth_mb']:,.0f} "
            f"| {row['traced_peak_mb']:,.0f} |"
        )


if __name__ == "__main__":
    main()
