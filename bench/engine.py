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
from PIL import ImageFile

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
    # Its import also lets Pillow accept truncated files process-wide; put the default back
    # (decode_image would, with a warning) since the benchmark decodes with the project's code.
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    return face_recognition


Timing = tuple[float, float, float]  # CPU s detecting, CPU s embedding, wall s of both


def compare(photo: str, image: np.ndarray, engine, face_recognition, repeats: int) -> dict:
    # Each side timed in its two steps, so the report can say where the time goes.
    def baseline() -> tuple[tuple[list, list], Timing]:
        wall, cpu = time.perf_counter(), time.process_time()
        locations = face_recognition.face_locations(image, 1, "hog")
        detected = time.process_time()
        vectors = face_recognition.face_encodings(image, locations)
        done = time.process_time()
        return (locations, vectors), (detected - cpu, done - detected, time.perf_counter() - wall)

    def ours() -> tuple[list, Timing]:
        wall, cpu = time.perf_counter(), time.process_time()
        boxes = engine.detect(image)
        detected = time.process_time()
        faces = engine.embed(image, boxes)
        done = time.process_time()
        return faces, (detected - cpu, done - detected, time.perf_counter() - wall)

    # Warm-up (first-call allocations, model pages), then alternate the two sides so that
    # background load hits both alike.
    (base_locations, base_vectors), _ = baseline()
    found, _ = ours()
    base_runs = []
    engine_runs = []
    for _ in range(repeats):
        base_runs.append(baseline()[1])
        engine_runs.append(ours()[1])
    # The fastest repeat is the cost of the work itself; slower ones measure the neighbours.
    base_best = min(base_runs, key=lambda run: run[0] + run[1])
    engine_best = min(engine_runs, key=lambda run: run[0] + run[1])

    matched, worst_iou, worst_distance = 0, 1.0, 0.0
    unused = list(range(len(found)))
    for location, vector in zip(base_locations, base_vectors, strict=True):
        box = Box.from_list(location)
        best = max(unused, key=lambda k: box.iou(found[k].box), default=None)
        if best is None:
            continue
        iou = box.iou(found[best].box)
        distance = float(np.linalg.norm(found[best].vector - vector))
        if iou >= SAME_BOX_IOU and distance <= SAME_EMBEDDING:
            matched += 1
            unused.remove(best)
            worst_iou = min(worst_iou, iou)
            worst_distance = max(worst_distance, distance)
    return {
        "photo": photo,
        "size": f"{image.shape[1]}x{image.shape[0]}",
        "baseline_faces": len(base_locations),
        "engine_faces": len(found),
        "matched": matched,
        "same_faces": matched == len(base_locations) == len(found),
        "worst_iou": round(worst_iou, 3),
        "worst_embedding_distance": round(worst_distance, 4),
        "baseline_s": base_best[0] + base_best[1],
        "engine_s": engine_best[0] + engine_best[1],
        "baseline_detect_s": base_best[0],
        "engine_detect_s": engine_best[0],
        "baseline_embed_s": base_best[1],
        "engine_embed_s": engine_best[1],
        "baseline_wall_s": statistics.median(run[2] for run in base_runs),
        "engine_wall_s": statistics.median(run[2] for run in engine_runs),
    }


def _mean_ms(rows: list[dict], key: str) -> float:
    return round(statistics.mean(row[key] for row in rows) * 1000, 1)


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

    base_times = [r["baseline_s"] for r in rows]
    engine_times = [r["engine_s"] for r in rows]
    summary = {
        "photos": len(rows),
        "faces": sum(r["baseline_faces"] for r in rows),
        "same_faces_in_every_photo": all(r["same_faces"] for r in rows),
        "worst_iou": min(r["worst_iou"] for r in rows),
        "worst_embedding_distance": max(r["worst_embedding_distance"] for r in rows),
        "baseline_mean_ms": round(statistics.mean(base_times) * 1000, 1),
        "baseline_median_ms": round(statistics.median(base_times) * 1000, 1),
        "engine_mean_ms": round(statistics.mean(engine_times) * 1000, 1),
        "engine_median_ms": round(statistics.median(engine_times) * 1000, 1),
        "speedup_of_means": round(statistics.mean(base_times) / statistics.mean(engine_times), 2),
        "speedup_of_medians": round(
            statistics.median(base_times) / statistics.median(engine_times), 2
        ),
        "wall_baseline_mean_ms": round(
            statistics.mean(r["baseline_wall_s"] for r in rows) * 1000, 1
        ),
        "wall_engine_mean_ms": round(statistics.mean(r["engine_wall_s"] for r in rows) * 1000, 1),
        "detect_baseline_mean_ms": _mean_ms(rows, "baseline_detect_s"),
        "detect_engine_mean_ms": _mean_ms(rows, "engine_detect_s"),
        "embed_baseline_mean_ms": _mean_ms(rows, "baseline_embed_s"),
        "embed_engine_mean_ms": _mean_ms(rows, "engine_embed_s"),
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
        f"of which detection: baseline {summary['detect_baseline_mean_ms']:.0f} ms, engine "
        f"{summary['detect_engine_mean_ms']:.0f} ms "
        f"(x{summary['detect_baseline_mean_ms'] / summary['detect_engine_mean_ms']:.1f}); "
        f"embedding (same network, same work): baseline {summary['embed_baseline_mean_ms']:.0f} "
        f"ms, engine {summary['embed_engine_mean_ms']:.0f} ms"
    )
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
