"""The face engine against plain face_recognition, on every photo of ../shared/faces.

Run from the repository root:

    .venv/bin/python bench/engine.py

Baseline: ``face_recognition.face_locations(image, 1, "hog")`` (HOG, upsampled once, on the
full-resolution image) then ``face_recognition.face_encodings(image, locations)``. Engine:
``get_engine().analyse(image)`` (coarse-to-fine HOG, then the same 5-landmark alignment and
ResNet embedding). Both receive the same decoded RGB array, so decoding is not timed.

Timing: each photo runs ``--repeats`` times per side, alternating baseline and engine so that
background load hits both alike. The figure that counts is CPU time of this process (both sides
run on one core; the machine is shared, and CPU time is what other processes disturb least),
taking the fastest repeat as the cost of the work itself; wall-clock medians are reported too.

"Same faces" means: every baseline face has an engine face whose box overlaps it (IoU >= 0.5)
and whose embedding is within 0.2 of the baseline's (a third of the match threshold: the same
face, only landmarks fitted from a slightly different box), and the engine finds no extra face.
Prints a table and writes bench/results/engine.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from matching.engine import Box, get_engine  # noqa: E402
from matching.lib.imaging import decode_image  # noqa: E402

FACES_DIR = Path(os.environ.get("FACES_DIR", REPO_ROOT.parent / "shared" / "faces"))
RESULTS_PATH = REPO_ROOT / "bench" / "results" / "engine.json"
SAME_BOX_IOU = 0.5
SAME_EMBEDDING = 0.2


def _import_face_recognition():
    # face_recognition's models package imports the deprecated pkg_resources and warns about it.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import face_recognition
    return face_recognition


def compare(photo: str, image: np.ndarray, engine, face_recognition, repeats: int) -> dict:
    def baseline():
        locations = face_recognition.face_locations(image, 1, "hog")
        return locations, face_recognition.face_encodings(image, locations)

    def analyse():
        return engine.analyse(image)

    # Warm-up (first-call allocations, model pages), then alternate the two.
    base_locations, base_vectors = baseline()
    ours = analyse()
    base_cpu, engine_cpu, base_wall, engine_wall = [], [], [], []
    for _ in range(repeats):
        for run, cpu, wall in ((baseline, base_cpu, base_wall), (analyse, engine_cpu, engine_wall)):
            started_cpu, started_wall = time.process_time(), time.perf_counter()
            run()
            cpu.append(time.process_time() - started_cpu)
            wall.append(time.perf_counter() - started_wall)

    matched, worst_iou, worst_distance = 0, 1.0, 0.0
    unused = list(range(len(ours)))
    for location, vector in zip(base_locations, base_vectors, strict=True):
        box = Box.from_list(location)
        best = max(unused, key=lambda k: box.iou(ours[k].box), default=None)
        if best is None:
            continue
        iou = box.iou(ours[best].box)
        distance = float(np.linalg.norm(ours[best].vector - vector))
        if iou >= SAME_BOX_IOU and distance <= SAME_EMBEDDING:
            matched += 1
            unused.remove(best)
            worst_iou = min(worst_iou, iou)
            worst_distance = max(worst_distance, distance)
    return {
        "photo": photo,
        "size": f"{image.shape[1]}x{image.shape[0]}",
        "baseline_faces": len(base_locations),
        "engine_faces": len(ours),
        "matched": matched,
        "same_faces": matched == len(base_locations) == len(ours),
        "worst_iou": round(worst_iou, 3),
        "worst_embedding_distance": round(worst_distance, 4),
        "baseline_s": min(base_cpu),
        "engine_s": min(engine_cpu),
        "baseline_wall_s": statistics.median(base_wall),
        "engine_wall_s": statistics.median(engine_wall),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per photo and side")
    args = parser.parse_args()

    face_recognition = _import_face_recognition()
    engine = get_engine()
    engine.load()
    manifest = json.loads((FACES_DIR / "manifest.json").read_text())
    photos = [p for files in manifest["people"].values() for p in files] + list(manifest["groups"])

    rows = []
    for photo in photos:
        image = decode_image((FACES_DIR / photo).read_bytes(), max_pixels=40_000_000)
        rows.append(compare(photo, image, engine, face_recognition, args.repeats))
        row = rows[-1]
        print(
            f"{row['photo']:40} {row['size']:>9}  faces {row['baseline_faces']}/"
            f"{row['engine_faces']}  baseline {row['baseline_s'] * 1000:6.0f} ms  "
            f"engine {row['engine_s'] * 1000:5.0f} ms  x{row['baseline_s'] / row['engine_s']:.1f}"
            + ("" if row["same_faces"] else "  DIFFERENT FACES"),
            flush=True,
        )

    base = [r["baseline_s"] for r in rows]
    ours = [r["engine_s"] for r in rows]
    summary = {
        "photos": len(rows),
        "faces": sum(r["baseline_faces"] for r in rows),
        "same_faces_in_every_photo": all(r["same_faces"] for r in rows),
        "worst_iou": min(r["worst_iou"] for r in rows),
        "worst_embedding_distance": max(r["worst_embedding_distance"] for r in rows),
        "baseline_mean_ms": round(statistics.mean(base) * 1000, 1),
        "baseline_median_ms": round(statistics.median(base) * 1000, 1),
        "engine_mean_ms": round(statistics.mean(ours) * 1000, 1),
        "engine_median_ms": round(statistics.median(ours) * 1000, 1),
        "speedup_of_means": round(statistics.mean(base) / statistics.mean(ours), 2),
        "speedup_of_medians": round(statistics.median(base) / statistics.median(ours), 2),
        "wall_baseline_mean_ms": round(
            statistics.mean(r["baseline_wall_s"] for r in rows) * 1000, 1
        ),
        "wall_engine_mean_ms": round(statistics.mean(r["engine_wall_s"] for r in rows) * 1000, 1),
        "timing": "CPU seconds of the benchmark process, fastest of the repeats, per photo",
        "engine": {"name": engine.name, "version": engine.version},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "repeats": args.repeats,
    }
    print()
    print("| CPU time | per photo, mean | per photo, median |")
    print("|---|---:|---:|")
    print(
        f"| face_recognition (HOG, upsample 1, full resolution) | "
        f"{summary['baseline_mean_ms']:.0f} ms | {summary['baseline_median_ms']:.0f} ms |"
    )
    print(
        f"| engine (coarse-to-fine HOG) | {summary['engine_mean_ms']:.0f} ms | "
        f"{summary['engine_median_ms']:.0f} ms |"
    )
    print(f"| speedup | x{summary['speedup_of_means']} | x{summary['speedup_of_medians']} |")
    print(
        f"wall clock, mean per photo: baseline {summary['wall_baseline_mean_ms']:.0f} ms, "
        f"engine {summary['wall_engine_mean_ms']:.0f} ms"
    )
    print(
        f"{summary['photos']} photos, {summary['faces']} faces; same faces in every photo: "
        f"{summary['same_faces_in_every_photo']} (worst box IoU {summary['worst_iou']}, "
        f"worst embedding distance to the baseline's {summary['worst_embedding_distance']})"
    )
    RESULTS_PATH.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_PATH.write_text(json.dumps({"summary": summary, "photos": rows}, indent=2) + "\n")
    print(f"results written to {RESULTS_PATH.relative_to(REPO_ROOT)}")
    return 0 if summary["same_faces_in_every_photo"] else 1


if __name__ == "__main__":
    sys.exit(main())
