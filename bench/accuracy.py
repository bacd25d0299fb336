"""Genuine and impostor face distances on ../shared/faces, against the engine's thresholds.

Run from the repository root:

    .venv/bin/python bench/accuracy.py

It embeds every face in the manifest's photos, forms every pair of faces, and prints the
distance distributions of same-person ("genuine") and different-person ("impostor") pairs, how
the engine's ``threshold`` and ``review_threshold`` classify them, and the margins on each side.
It writes the plot to docs/img/face_distances.png and the numbers to
bench/results/accuracy.json, and exits with status 1 if any pair is misclassified.

Faces in the group photos are named by the manifest only as a list per photo; each is given
the name (or the manifest's ``null``, someone not in ``people/``) that fits best among that
photo's list, choosing the assignment with the smallest total distance to the people's own photos.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from matching.engine import FaceEmbedding, FaceEngine, get_engine  # noqa: E402
from matching.lib.imaging import decode_image  # noqa: E402

FACES_DIR = Path(os.environ.get("FACES_DIR", REPO_ROOT.parent / "shared" / "faces"))
PLOT_PATH = REPO_ROOT / "docs" / "img" / "face_distances.png"
RESULTS_PATH = REPO_ROOT / "bench" / "results" / "accuracy.json"
MAX_PIXELS = 40_000_000


@dataclass(frozen=True)
class LabelledFace:
    source: str  # file, relative to the faces folder
    person: str | None  # None: someone not in people/
    embedding: FaceEmbedding


def label_faces(engine: FaceEngine, faces_dir: Path, manifest: dict) -> list[LabelledFace]:
    faces: list[LabelledFace] = []
    for person, files in manifest["people"].items():
        for name in files:
            found = engine.analyse(_load(faces_dir / name))
            if len(found) != 1:
                raise SystemExit(f"{name}: expected one face, found {len(found)}")
            faces.append(LabelledFace(name, person, found[0]))

    references: dict[str, list[FaceEmbedding]] = {}
    for face in faces:
        references.setdefault(face.person, []).append(face.embedding)

    for name, people in manifest["groups"].items():
        found = engine.analyse(_load(faces_dir / name))
        if len(found) != len(people):
            raise SystemExit(f"{name}: expected {len(people)} faces, found {len(found)}")
        names = _assign(engine, found, people, references)
        faces.extend(
            LabelledFace(name, person, embedding)
            for embedding, person in zip(found, names, strict=True)
        )
    return faces


def _assign(
    engine: FaceEngine,
    found: list[FaceEmbedding],
    people: list[str | None],
    references: dict[str, list[FaceEmbedding]],
) -> list[str | None]:
    """The names for ``found``, in order: the permutation of ``people`` closest to the references.

    A face given ``None`` costs the threshold: cheaper than a named person it does not resemble,
    dearer than one it does.
    """

    def cost(face: FaceEmbedding, person: str | None) -> float:
        if person is None:
            return engine.threshold
        return float(np.mean([engine.distance(face, ref) for ref in references[person]]))

    best = min(
        itertools.permutations(people),
        key=lambda order: sum(cost(f, p) for f, p in zip(found, order, strict=True)),
    )
    return list(best)


def pair_distances(engine: FaceEngine, faces: list[LabelledFace]) -> tuple[list, list]:
    genuine, impostor = [], []
    for a, b in itertools.combinations(faces, 2):
        pair = (a.source, b.source, engine.distance(a.embedding, b.embedding))
        same = a.person is not None and a.person == b.person
        (genuine if same else impostor).append(pair)
    return genuine, impostor


def plot(engine: FaceEngine, genuine: list[float], impostor: list[float], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.2), dpi=110)
    bins = np.linspace(0.0, 1.1, 45)
    ax.hist(genuine, bins=bins, alpha=0.7, label=f"same person ({len(genuine)} pairs)")
    ax.hist(impostor, bins=bins, alpha=0.7, label=f"different people ({len(impostor)} pairs)")
    ax.axvline(engine.threshold, color="black", linewidth=1.5)
    ax.axvline(engine.review_threshold, color="black", linestyle="--", linewidth=1.2)
    ax.axvspan(engine.threshold, engine.review_threshold, color="grey", alpha=0.15)
    top = ax.get_ylim()[1]
    ax.text(engine.threshold - 0.01, top * 0.95, f"match ≤ {engine.threshold}", ha="right")
    ax.text(engine.review_threshold + 0.01, top * 0.95, f"possible ≤ {engine.review_threshold}")
    ax.set_xlabel(f"Euclidean distance between embeddings ({engine.name})")
    ax.set_ylabel("pairs")
    ax.set_title("Face distances on ../shared/faces")
    ax.legend(loc="upper left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    # No timestamp in the file, so regenerating an unchanged plot leaves git clean.
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)


def _load(path: Path) -> np.ndarray:
    return decode_image(path.read_bytes(), max_pixels=MAX_PIXELS)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-plot", action="store_true", help="print the numbers only")
    args = parser.parse_args()

    engine = get_engine()
    manifest = json.loads((FACES_DIR / "manifest.json").read_text())
    faces = label_faces(engine, FACES_DIR, manifest)
    genuine, impostor = pair_distances(engine, faces)
    g = np.array([d for _, _, d in genuine])
    i = np.array([d for _, _, d in impostor])

    def counts(values: np.ndarray) -> dict[str, int]:
        classes = [engine.classify(float(v)) for v in values]
        return {c: classes.count(c) for c in ("match", "possible", "none")}

    worst_genuine = max(genuine, key=lambda p: p[2])
    closest_impostor = min(impostor, key=lambda p: p[2])
    summary = {
        "engine": {"name": engine.name, "version": engine.version},
        "threshold": engine.threshold,
        "review_threshold": engine.review_threshold,
        "faces": len(faces),
        "group_labels": {
            f.source + f" (left={f.embedding.box.left})": f.person
            for f in faces
            if f.source.startswith("group/")
        },
        "genuine": {
            "pairs": len(g),
            "min": round(float(g.min()), 4),
            "median": round(float(np.median(g)), 4),
            "max": round(float(g.max()), 4),
            "worst_pair": worst_genuine[:2],
            "classified": counts(g),
        },
        "impostor": {
            "pairs": len(i),
            "min": round(float(i.min()), 4),
            "median": round(float(np.median(i)), 4),
            "max": round(float(i.max()), 4),
            "closest_pair": closest_impostor[:2],
            "classified": counts(i),
        },
        "margin_below_threshold": round(engine.threshold - float(g.max()), 4),
        "margin_above_threshold": round(float(i.min()) - engine.threshold, 4),
        "margin_above_review_threshold": round(float(i.min()) - engine.review_threshold, 4),
    }
    print(json.dumps(summary, indent=2))
    RESULTS_PATH.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_PATH.write_text(json.dumps(summary, indent=2) + "\n")
    if not args.no_plot:
        plot(engine, list(g), list(i), PLOT_PATH)
        print(f"plot written to {PLOT_PATH.relative_to(REPO_ROOT)}")

    ok = g.max() <= engine.threshold < i.min()
    if not ok:
        print("MISCLASSIFIED: some pair falls on the wrong side of the threshold", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
