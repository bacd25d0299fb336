"""Verdicts as the registry grows: plain face_recognition against ``matching.lib.verdict_rule``.

Run from the repository root (a few minutes the first time, seconds once embeddings are cached):

    .venv/bin/python bench/verdicts.py

1. Embeds every face in ``../shared/faces`` (``people/``, ``more/``, ``group/``, ``deepfake/``)
   and media derived in memory from the photos (a small face in a large frame, JPEG quality 15,
   blur, a 20 degree rotation, grey and mirrored), and the real face swaps (frames of the swap
   videos, the swapped image). Embeddings are cached in ``bench/results/verdicts_embeddings.npz``
   (git-ignored); delete it, or pass ``--refresh``, after changing the engine.
2. Registers people (one photo each, or up to three), probes with their other photos and derived
   media (genuine probes) and with everyone else's faces (strangers, leave-one-person-out), and
   reports identified / flagged / blocked for both rules as the number registered grows.
3. Beyond the corpus's ~50 people the numbers are split honestly:
   - *measured*: genuine identification on real faces, with the rule's thresholds set for the
     claimed registry size N (they tighten with N);
   - *extrapolated*: strangers' block and review rates at N, ``1 - (1 - q)^N`` from the per-person
     false-candidate rate ``q`` (measured on every real impostor pair, and from the calibration,
     which covers the far tail the corpus cannot measure).

Writes ``bench/results/verdicts.json``, the plot ``docs/img/verdicts.png``; the figures are quoted
in ``docs/accuracy.md`` ("Verdicts as the registry grows").
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter, ImageOps

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from matching.engine import FaceEngine, get_engine  # noqa: E402
from matching.lib.imaging import decode_image  # noqa: E402

FACES_DIR = Path(os.environ.get("FACES_DIR", REPO_ROOT.parent / "shared" / "faces"))
RESULTS_DIR = REPO_ROOT / "bench" / "results"
CACHE_PATH = RESULTS_DIR / "verdicts_embeddings.npz"
RESULTS_PATH = RESULTS_DIR / "verdicts.json"
PLOT_PATH = REPO_ROOT / "docs" / "img" / "verdicts.png"
MAX_PIXELS = 40_000_000
# Bump when what is embedded changes, so an old cache is not silently reused.
CACHE_LAYOUT = 1

# Derived media are made from at most this many of a person's probe photos (the last ones in the
# manifest, never the first, which is always registered): enough variety, a bounded run time.
DERIVED_PER_PERSON = 2
DERIVED_KINDS = ("small_in_frame", "jpeg_q15", "blur", "rotated_20", "grey_mirrored")
# Frames sampled from each swap video (seconds apart), each embedded on its own.
SWAP_FRAME_STEP_S = 0.25
# The swaps' source photos and the swapped image's target, as one-photo people.
SWAP_PEOPLE = {
    "ghost_elon_musk": "deepfake/ghost/elon_musk.jpg",
    "ghost_khabenskii": "deepfake/ghost/khabenskii.jpg",
    "ghost_mark": "deepfake/ghost/mark.jpg",
    "ghost_beckham": "deepfake/ghost/beckham.jpg",
    "roop_source": "deepfake/roop/source.jpg",
}


@dataclass(frozen=True)
class Face:
    """One embedded face of the corpus.

    ``kind`` is ``photo`` (a real photo of one person), ``group`` (a face in a group photo),
    a derived kind from ``DERIVED_KINDS``, or ``swap`` (a face-swap output: ``person`` is its
    source person, ``clip`` the file it came from).
    """

    source: str
    kind: str
    person: str | None
    vector: np.ndarray
    size_px: int
    quality: float
    sharpness: float
    clip: str | None = None


# -- embedding -----------------------------------------------------------------------------------


def _load(path: Path) -> np.ndarray:
    return decode_image(path.read_bytes(), max_pixels=MAX_PIXELS)


def _largest_face(engine: FaceEngine, image: np.ndarray):
    found = engine.analyse(image)
    return max(found, key=lambda f: f.box.area) if found else None


def _derive(engine: FaceEngine, image: np.ndarray, kind: str) -> np.ndarray:
    photo = Image.fromarray(image)
    if kind == "small_in_frame":
        # A face about 56 px wide pasted into a 1280x720 frame of noise: a wide shot.
        (box,) = engine.detect(image)[:1]
        margin = box.width // 2
        crop = photo.crop(
            (box.left - margin, box.top - margin, box.right + margin, box.bottom + margin)
        )
        factor = 56 / box.width
        crop = crop.resize(
            (max(1, round(crop.width * factor)), max(1, round(crop.height * factor))),
            Image.Resampling.LANCZOS,
        )
        noise = np.random.default_rng(7).normal(120, 25, (720, 1280, 3))
        frame = Image.fromarray(np.clip(noise, 0, 255).astype(np.uint8))
        frame.paste(crop, (600, 300))
        return np.asarray(frame)
    if kind == "jpeg_q15":
        buffer = io.BytesIO()
        photo.save(buffer, format="JPEG", quality=15)
        return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))
    if kind == "blur":
        # Blur relative to the face size, so a large portrait is as degraded as a small one.
        (box,) = engine.detect(image)[:1]
        return np.asarray(photo.filter(ImageFilter.GaussianBlur(max(1.0, box.width / 60))))
    if kind == "rotated_20":
        return np.asarray(photo.rotate(20, resample=Image.Resampling.BICUBIC, expand=True))
    if kind == "grey_mirrored":
        return np.asarray(ImageOps.mirror(photo.convert("L")).convert("RGB"))
    raise ValueError(kind)


def _video_frames(path: Path, step_s: float):
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        next_at = 0.0
        for frame in container.decode(stream):
            at = float(frame.time) if frame.time is not None else next_at
            if at + 1e-6 >= next_at:
                next_at = at + step_s
                yield at, frame.to_ndarray(format="rgb24")


def _face(engine, image, *, source, kind, person, clip=None) -> Face | None:
    found = _largest_face(engine, image)
    if found is None:
        return None
    return Face(
        source=source,
        kind=kind,
        person=person,
        vector=found.vector,
        size_px=found.quality.size_px,
        quality=found.quality.score,
        sharpness=found.quality.sharpness,
        clip=clip,
    )


def people_photos(faces_dir: Path) -> dict[str, list[str]]:
    """Every single-person photo, by person, in manifest order (paths relative to faces_dir)."""
    people = {
        person: list(files)
        for person, files in json.loads((faces_dir / "manifest.json").read_text())["people"].items()
    }
    more = json.loads((faces_dir / "more" / "manifest.json").read_text())["people"]
    for person, files in more.items():
        people[person] = [f"more/{name}" for name in files]
    for person, name in SWAP_PEOPLE.items():
        people[person] = [name]
    return people


def embed_corpus(engine: FaceEngine, faces_dir: Path) -> tuple[list[Face], list[str]]:
    faces: list[Face] = []
    missed: list[str] = []
    people = people_photos(faces_dir)
    started = time.perf_counter()

    def add(face: Face | None, label: str) -> None:
        if face is None:
            missed.append(label)
        else:
            faces.append(face)

    for person, files in people.items():
        for index, name in enumerate(files):
            image = _load(faces_dir / name)
            face = _face(engine, image, source=name, kind="photo", person=person)
            add(face, name)
            if face is None or index == 0 or index < len(files) - DERIVED_PER_PERSON:
                continue
            for kind in DERIVED_KINDS:
                derived = _derive(engine, image, kind)
                label = f"{name}#{kind}"
                add(_face(engine, derived, source=label, kind=kind, person=person), label)
        print(f"  {person}: {time.perf_counter() - started:.0f} s", file=sys.stderr)

    faces.extend(_group_faces(engine, faces_dir, faces))

    media = json.loads((faces_dir / "media.json").read_text())["faceswaps"]
    source_person = {name: person for person, name in SWAP_PEOPLE.items()}
    for name, swap in media.items():
        person = source_person[swap["source"]]
        if name.endswith((".png", ".jpg")):
            image = _load(faces_dir / name)
            add(_face(engine, image, source=name, kind="swap", person=person, clip=name), name)
            continue
        for at, frame in _video_frames(faces_dir / name, SWAP_FRAME_STEP_S):
            label = f"{name}@{at:.2f}s"
            add(_face(engine, frame, source=label, kind="swap", person=person, clip=name), label)
    print(f"  swaps: {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return faces, missed


def _group_faces(engine: FaceEngine, faces_dir: Path, faces: list[Face]) -> list[Face]:
    """Faces of the group photos, each given the name from its photo's list that fits best
    (as in bench/accuracy.py); the manifest's ``null`` is someone not in the corpus."""
    groups = json.loads((faces_dir / "manifest.json").read_text())["groups"]
    references: dict[str, list[np.ndarray]] = {}
    for face in faces:
        if face.kind == "photo":
            references.setdefault(face.person, []).append(face.vector)
    out = []
    for name, people in groups.items():
        found = engine.analyse(_load(faces_dir / name))

        def cost(vector, person):
            if person is None:
                return engine.threshold
            return float(np.mean(engine.distances(vector, np.array(references[person]))))

        order = min(
            itertools.permutations(people, len(found)),
            key=lambda names: sum(cost(f.vector, p) for f, p in zip(found, names, strict=True)),
        )
        for embedding, person in zip(found, order, strict=True):
            out.append(
                Face(
                    source=f"{name}(left={embedding.box.left})",
                    kind="group",
                    person=person,
                    vector=embedding.vector,
                    size_px=embedding.quality.size_px,
                    quality=embedding.quality.score,
                    sharpness=embedding.quality.sharpness,
                )
            )
    return out


def load_or_embed(engine: FaceEngine, faces_dir: Path, refresh: bool) -> list[Face]:
    key = f"{CACHE_LAYOUT}|{engine.name}|{engine.version}"
    if CACHE_PATH.exists() and not refresh:
        cached = np.load(CACHE_PATH, allow_pickle=False)
        if str(cached["key"]) == key:
            meta = json.loads(str(cached["meta"]))
            return [
                Face(vector=vector, **row)
                for row, vector in zip(meta, cached["vectors"], strict=True)
            ]
    print("embedding the corpus (cached afterwards) ...", file=sys.stderr)
    faces, missed = embed_corpus(engine, faces_dir)
    if missed:
        print(f"no face found in: {', '.join(missed)}", file=sys.stderr)
    meta = [
        {
            "source": f.source,
            "kind": f.kind,
            "person": f.person,
            "size_px": f.size_px,
            "quality": f.quality,
            "sharpness": f.sharpness,
            "clip": f.clip,
        }
        for f in faces
    ]
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    np.savez(
        CACHE_PATH,
        key=np.array(key),
        meta=np.array(json.dumps(meta)),
        vectors=np.array([f.vector for f in faces], dtype=np.float32),
    )
    return faces


# -- evaluation ----------------------------------------------------------------------------------

# Registry sizes: measured ones are subsets of the corpus; claimed ones set the rule's N beyond it.
MEASURED_SIZES = (5, 10, 20, 40)
CLAIMED_SIZES = (100, 300, 600, 1000)
SEVERAL = 3  # templates per person in the "several photos" registration
DRAWS = 20  # random registries per measured size
OLD_THRESHOLD, OLD_REVIEW = 0.6, 0.68


@dataclass
class Corpus:
    faces: list[Face]
    vectors: np.ndarray
    photos: dict[str, list[int]]  # person -> indices of their photos, manifest order

    @classmethod
    def build(cls, faces: list[Face]) -> Corpus:
        photos: dict[str, list[int]] = {}
        for index, face in enumerate(faces):
            if face.kind == "photo":
                photos.setdefault(face.person, []).append(index)
        vectors = np.array([f.vector for f in faces], dtype=np.float64)
        return cls(faces, vectors, photos)

    def templates(self, person: str, several: bool) -> list[int]:
        indices = self.photos[person]
        if not several or len(indices) == 1:
            return indices[:1]
        return indices[: min(SEVERAL, len(indices) - 1)]

    def genuine_probes(self) -> list[int]:
        """Probes of registered people that neither registration uses as a template: photos past
        the first min(3, n - 1), media derived from them, group faces, face swaps."""
        several_templates = {p: set(self.templates(p, True)) for p in self.photos}
        sources = {self.faces[i].source: i for p in self.photos for i in self.photos[p]}
        probes = []
        for index, face in enumerate(self.faces):
            if face.person is None or face.person not in self.photos:
                continue
            if face.kind == "photo":
                if (
                    len(self.photos[face.person]) > 1
                    and index not in several_templates[face.person]
                ):
                    probes.append(index)
            elif face.kind in DERIVED_KINDS:
                origin = sources.get(face.source.split("#")[0])
                if origin is not None and origin not in several_templates[face.person]:
                    probes.append(index)
            else:  # group faces and swaps
                probes.append(index)
        return probes

    def stranger_probes(self) -> list[int]:
        """Every real face but the swaps (whose frames repeat one face many times)."""
        return [i for i, f in enumerate(self.faces) if f.kind != "swap"]


def person_distances(
    corpus: Corpus, probe: int, registered: list[str], several: bool
) -> dict[str, list[float]]:
    out = {}
    for person in registered:
        templates = corpus.templates(person, several)
        out[person] = list(
            np.linalg.norm(corpus.vectors[templates] - corpus.vectors[probe], axis=1)
        )
    return out


def old_rule(distances: dict[str, list[float]]) -> tuple[str | None, str]:
    """face_recognition's way: the nearest template within 0.6 is a match (0.68: possible)."""
    person, nearest = min(((p, min(ds)) for p, ds in distances.items()), key=lambda x: x[1])
    if nearest <= OLD_THRESHOLD:
        return person, "match"
    if nearest <= OLD_REVIEW:
        return person, "possible"
    return None, "none"


def new_rule(engine, corpus, probe, distances, candidates):
    face = corpus.faces[probe]
    # The service only sees people within the review threshold; give the rule the same view.
    returned = {p: ds for p, ds in distances.items() if min(ds) <= engine.review_threshold}
    verdict = engine.decide(
        returned, candidates=candidates, face_px=face.size_px, face_quality=face.quality
    )
    return verdict.person_id, verdict.match


def _tally(outcomes: list[tuple[str | None, str]], truth: list[str | None]) -> dict:
    """Genuine: identified (blocked, right person), flagged (possible, right person), wrong person
    named (blocked or possible). Strangers (truth None): blocked, flagged."""
    total = len(outcomes)
    if total == 0:
        return {"faces": 0}
    right_match = sum(
        1 for (p, m), t in zip(outcomes, truth, strict=True) if m == "match" and p == t
    )
    right_possible = sum(
        1 for (p, m), t in zip(outcomes, truth, strict=True) if m == "possible" and p == t
    )
    wrong_block = sum(
        1 for (p, m), t in zip(outcomes, truth, strict=True) if m == "match" and p != t
    )
    wrong_flag = sum(
        1 for (p, m), t in zip(outcomes, truth, strict=True) if m == "possible" and p != t
    )
    return {
        "faces": total,
        "identified": round(right_match / total, 4),
        "flagged": round(right_possible / total, 4),
        "wrong_person_blocked": round(wrong_block / total, 4),
        "wrong_person_flagged": round(wrong_flag / total, 4),
    }


def evaluate_measured(engine, corpus: Corpus, rng: np.random.Generator) -> dict:
    """Real registries of the corpus's people (subsets of MEASURED_SIZES, then all of them)."""
    people = sorted(corpus.photos)
    genuine = corpus.genuine_probes()
    strangers = corpus.stranger_probes()
    sizes = [s for s in MEASURED_SIZES if s < len(people) - 1] + [len(people) - 1]
    out = {}
    for several in (False, True):
        label = "several" if several else "one"
        rows = []
        for size in sizes:
            tallies = {("genuine", "old"): [], ("genuine", "new"): []}
            tallies.update({("stranger", "old"): [], ("stranger", "new"): []})
            truths = {"genuine": [], "stranger": []}
            draws = 1 if size == len(people) - 1 else DRAWS
            for _ in range(draws):
                for probe in genuine:
                    person = corpus.faces[probe].person
                    others = [p for p in people if p != person]
                    registered = [person, *rng.choice(others, size - 1, replace=False)]
                    ds = person_distances(corpus, probe, registered, several)
                    tallies[("genuine", "old")].append(old_rule(ds))
                    tallies[("genuine", "new")].append(new_rule(engine, corpus, probe, ds, size))
                    truths["genuine"].append(person)
                for probe in strangers:
                    person = corpus.faces[probe].person
                    others = [p for p in people if p != person]
                    registered = list(rng.choice(others, size, replace=False))
                    ds = person_distances(corpus, probe, registered, several)
                    tallies[("stranger", "old")].append(old_rule(ds))
                    tallies[("stranger", "new")].append(new_rule(engine, corpus, probe, ds, size))
                    truths["stranger"].append(None)
            row = {"registered": size, "draws": draws}
            for (who, rule), outcomes in tallies.items():
                row[f"{who}_{rule}"] = _tally(outcomes, truths[who])
            rows.append(row)
            print(
                f"  measured, {label} photo(s), {size} registered: {_brief(row)}", file=sys.stderr
            )
        out[label] = rows
    return out


def evaluate_claimed(engine, corpus: Corpus) -> dict:
    """Beyond the corpus: the rule run with N set to the claimed registry size (measured on real
    genuine faces) and strangers' rates at N extrapolated from per-person false-candidate rates."""
    from matching.lib.verdict_rule import person_evidence, thresholds_for

    people = sorted(corpus.photos)
    genuine = corpus.genuine_probes()
    strangers = corpus.stranger_probes()
    settings = engine.verdict_settings()
    out = {}
    for several in (False, True):
        label = "several" if several else "one"
        # Every real impostor (probe, registered person) pair: its evidence rate and nearest.
        impostor_rates, impostor_nearest = [], []
        for probe in strangers:
            person = corpus.faces[probe].person
            others = [p for p in people if p != person]
            for other, ds in person_distances(corpus, probe, others, several).items():
                evidence = person_evidence(other, ds, engine.calibration, settings)
                impostor_rates.append(evidence.rate)
                impostor_nearest.append(min(ds))
        impostor_rates = np.array(impostor_rates)
        impostor_nearest = np.array(impostor_nearest)
        pairs = len(impostor_rates)
        upper = 3.0 / pairs  # 95% upper bound on a rate never observed in `pairs` trials
        rows = []
        for size in (len(people) - 1, *CLAIMED_SIZES):
            genuine_new, genuine_old, truth = [], [], []
            for probe in genuine:
                ds = person_distances(corpus, probe, people, several)
                genuine_new.append(new_rule(engine, corpus, probe, ds, size))
                genuine_old.append(old_rule(ds))
                truth.append(corpus.faces[probe].person)
            bars = thresholds_for(size, engine.calibration, settings)
            q_block = float(np.mean(impostor_rates <= bars.block_rate))
            q_review = float(np.mean(impostor_rates <= bars.review_rate))
            q_old_block = float(np.mean(impostor_nearest <= OLD_THRESHOLD))
            q_old_review = float(np.mean(impostor_nearest <= OLD_REVIEW))
            cal = engine.calibration
            n_templates = SEVERAL if several else 1

            def at(q: float, n: int = size) -> float:
                return round(1 - (1 - q) ** n, 4)

            rows.append(
                {
                    "registered": size,
                    "thresholds": bars.as_dict(),
                    "genuine_new": _tally(genuine_new, truth),
                    "genuine_old": _tally(genuine_old, truth),
                    "strangers_new": {
                        "blocked_model": at(bars.block_rate),
                        "flagged_or_blocked_model": at(bars.review_rate),
                        "blocked_measured": at(q_block),
                        "blocked_measured_upper95": at(max(q_block, upper)),
                        "flagged_or_blocked_measured": at(q_review),
                    },
                    "strangers_old": {
                        "blocked_model": at(min(1.0, n_templates * cal.false_match_rate(0.6))),
                        "flagged_or_blocked_model": at(
                            min(1.0, n_templates * cal.false_match_rate(0.68))
                        ),
                        "blocked_measured": at(q_old_block),
                        "flagged_or_blocked_measured": at(q_old_review),
                    },
                }
            )
            print(f"  claimed, {label} photo(s), N={size}: {_brief(rows[-1])}", file=sys.stderr)
        out[label] = {"impostor_pairs": pairs, "rows": rows}
    return out


def _brief(row: dict) -> str:
    parts = []
    for key, value in row.items():
        if isinstance(value, dict) and key.startswith("stranger") and "faces" in value:
            blocked, flagged = value["wrong_person_blocked"], value["wrong_person_flagged"]
            parts.append(f"{key} blk={blocked:.3f} fl={flagged:.3f}")
        elif isinstance(value, dict) and "identified" in value:
            parts.append(f"{key} id={value['identified']:.2f} fl={value['flagged']:.2f}")
        elif isinstance(value, dict) and "blocked_model" in value:
            parts.append(f"{key} blk={value['blocked_model']:.3f}/{value['blocked_measured']:.3f}")
    return "; ".join(parts)


def evaluate_swaps(engine, corpus: Corpus) -> dict:
    """Each swap (video or image) against the whole corpus registered, one photo each: is its
    source person named (match or possible)? Per clip: the share of frames, and the verdict of
    the clip (the strongest verdict naming the source on any frame)."""
    people = sorted(corpus.photos)
    clips: dict[str, list] = {}
    for probe, face in enumerate(corpus.faces):
        if face.kind != "swap":
            continue
        ds = person_distances(corpus, probe, people, several=False)
        new = new_rule(engine, corpus, probe, ds, len(people))
        new_600 = new_rule(engine, corpus, probe, ds, 600)
        old = old_rule(ds)
        nearest_source = min(ds[face.person])
        clips.setdefault(face.clip, []).append((face.person, new, new_600, old, nearest_source))
    out = {}
    rank = {"match": 2, "possible": 1, "none": 0}
    for clip, frames in clips.items():
        source = frames[0][0]
        summary = {"source": source, "frames": len(frames)}
        for name, column in (("new", 1), (f"new_at_{600}", 2), ("old", 3)):
            found = [f[column][1] for f in frames if f[column][0] == source]
            best = max(found, key=rank.__getitem__, default="none")
            summary[name] = {
                "found_frames": round(sum(1 for m in found if m != "none") / len(frames), 3),
                "clip": best,
            }
        summary["nearest_source_distance"] = round(min(f[4] for f in frames), 4)
        out[clip] = summary
    return out


def calibration_check(engine, corpus: Corpus) -> dict:
    """The engine's calibration next to what the corpus's real impostor pairs show: per-pair
    distances, and the mean of k nearest templates for people registered with k photos."""
    people = sorted(corpus.photos)
    per_pair, fused = [], {2: [], 3: []}
    for probe in corpus.stranger_probes():
        person = corpus.faces[probe].person
        for other in people:
            if other == person:
                continue
            photos = corpus.photos[other]
            ds = np.sort(np.linalg.norm(corpus.vectors[photos] - corpus.vectors[probe], axis=1))
            per_pair.extend(ds.tolist())
            for k in fused:
                if len(photos) >= k:
                    # A person registered with their first k photos: no nearest-of-n selection,
                    # as in the rule when a person has exactly k templates.
                    first = np.linalg.norm(
                        corpus.vectors[photos[:k]] - corpus.vectors[probe], axis=1
                    )
                    fused[k].append(float(first.mean()))
    per_pair = np.array(per_pair)
    cal = engine.calibration
    rows = []
    for t in (0.55, 0.6, 0.65, 0.68, 0.7, 0.75, 0.8):
        rows.append(
            {
                "distance": t,
                "model_fmr": cal.false_match_rate(t),
                "measured_fmr": float(np.mean(per_pair <= t)),
            }
        )
    # The corpus's narrowing for k templates, carried onto the engine's per-pair fit: the same
    # shift and the same ratio of spreads, in units of the per-pair spread.
    pair_mean, pair_sd = float(per_pair.mean()), float(per_pair.std())
    fused_fit = {
        k: {
            "pairs": len(v),
            "mean": float(np.mean(v)),
            "sd": float(np.std(v)),
            "transferred": [
                round(cal.mean + (float(np.mean(v)) - pair_mean) * cal.sd / pair_sd, 4),
                round(cal.sd * float(np.std(v)) / pair_sd, 4),
            ],
        }
        for k, v in fused.items()
        if v
    }
    return {
        "engine": cal.as_dict(),
        "measured_pairs": int(per_pair.size),
        "measured_mean": pair_mean,
        "measured_sd": pair_sd,
        "measured_min": float(per_pair.min()),
        "fused_measured": fused_fit,
        "by_distance": rows,
    }


def genuine_table(engine, corpus: Corpus) -> dict:
    """False-non-match and false-match rates per threshold: genuine pairs (a probe against its
    person's first photo) and impostor pairs, measured on the corpus, and the model's FMR."""
    people = sorted(corpus.photos)
    genuine = [
        float(
            np.linalg.norm(
                corpus.vectors[corpus.photos[corpus.faces[p].person][0]] - corpus.vectors[p]
            )
        )
        for p in corpus.genuine_probes()
        if corpus.faces[p].kind != "swap"
    ]
    impostor = []
    for probe in corpus.stranger_probes():
        person = corpus.faces[probe].person
        for other in people:
            if other != person:
                impostor.append(
                    float(
                        np.linalg.norm(
                            corpus.vectors[corpus.photos[other][0]] - corpus.vectors[probe]
                        )
                    )
                )
    genuine, impostor = np.array(genuine), np.array(impostor)
    rows = [
        {
            "threshold": t,
            "fnmr_measured": round(float(np.mean(genuine > t)), 4),
            "fmr_measured": float(np.mean(impostor <= t)),
            "fmr_model": engine.calibration.false_match_rate(t),
        }
        for t in (0.40, 0.45, 0.50, 0.55, 0.60, 0.65, 0.68)
    ]
    return {
        "genuine_pairs": len(genuine),
        "impostor_pairs": len(impostor),
        "rows": rows,
        "genuine": genuine.tolist(),
    }


def capacity(engine, corpus: Corpus) -> dict:
    """The registry size up to which the rule identifies >= 60% of genuine photos while keeping
    strangers' expected false blocks at the block target (``registry_capacity``)."""
    from matching.lib.verdict_rule import person_evidence, registry_capacity

    settings = engine.verdict_settings()
    out = {}
    for several in (False, True):
        for scope, kinds in (("photos", ("photo", "group")), ("all_probes", None)):
            equivalent = []
            for probe in corpus.genuine_probes():
                face = corpus.faces[probe]
                if face.kind == "swap" or (kinds is not None and face.kind not in kinds):
                    continue
                templates = corpus.templates(face.person, several)
                ds = np.linalg.norm(corpus.vectors[templates] - corpus.vectors[probe], axis=1)
                evidence = person_evidence(face.person, ds, engine.calibration, settings)
                # The single-template distance as strong as this evidence.
                equivalent.append(engine.calibration.distance_at(evidence.rate))
            label = f"{'several' if several else 'one'}_{scope}"
            out[label] = {
                "genuine": len(equivalent),
                "capacity_60": registry_capacity(engine.calibration, equivalent, settings=settings),
                "capacity_50": registry_capacity(
                    engine.calibration, equivalent, settings=settings, min_identified=0.5
                ),
            }
    return out


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.4), dpi=110)
    for label, style in (("one", "-"), ("several", "--")):
        rows = results["claimed"][label]["rows"]
        sizes = [r["registered"] for r in rows]
        left.plot(
            sizes,
            [r["genuine_new"]["identified"] for r in rows],
            "o" + style,
            color="C0",
            label=f"new rule, blocked ({label} photo{'s' if label == 'several' else ''})",
        )
        left.plot(
            sizes,
            [r["genuine_new"]["identified"] + r["genuine_new"]["flagged"] for r in rows],
            "s" + style,
            color="C2",
            label=f"new rule, blocked or review ({label})",
        )
        left.plot(
            sizes,
            [r["genuine_old"]["identified"] for r in rows],
            "^" + style,
            color="C3",
            label=f"nearest within 0.6 ({label})",
        )
        right.plot(
            sizes,
            [r["strangers_new"]["blocked_model"] for r in rows],
            "o" + style,
            color="C0",
            label=f"new rule, blocked ({label})",
        )
        right.plot(
            sizes,
            [r["strangers_new"]["flagged_or_blocked_model"] for r in rows],
            "s" + style,
            color="C2",
            label=f"new rule, blocked or review ({label})",
        )
        right.plot(
            sizes,
            [r["strangers_old"]["blocked_model"] for r in rows],
            "^" + style,
            color="C3",
            label=f"nearest within 0.6, blocked ({label})",
        )
    left.set_title("Genuine faces (measured on ../shared/faces)")
    left.set_ylabel("share of genuine probes")
    right.set_title("Strangers (extrapolated from the calibration)")
    right.set_ylabel("share of strangers' faces")
    right.axhline(0.01, color="grey", linewidth=0.8, linestyle=":")
    right.axhline(0.10, color="grey", linewidth=0.8, linestyle=":")
    for ax in (left, right):
        ax.set_xscale("log")
        ax.set_xlabel("opted-out people searched per check (N)")
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    left.legend(fontsize=7, loc="lower left")
    right.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--refresh", action="store_true", help="re-embed, ignoring the cache")
    parser.add_argument("--embed-only", action="store_true", help="fill the cache and stop")
    parser.add_argument("--no-plot", action="store_true", help="write the numbers only")
    args = parser.parse_args()
    engine = get_engine()
    faces = load_or_embed(engine, FACES_DIR, args.refresh)
    print(f"{len(faces)} faces", file=sys.stderr)
    if args.embed_only:
        return 0
    corpus = Corpus.build(faces)
    rng = np.random.default_rng(16)
    started = time.perf_counter()
    results = {
        "engine": {"name": engine.name, "version": engine.version},
        "faces": len(faces),
        "people": len(corpus.photos),
        "genuine_probes": len(corpus.genuine_probes()),
        "stranger_probes": len(corpus.stranger_probes()),
        "calibration": calibration_check(engine, corpus),
        "rates": genuine_table(engine, corpus),
    }
    results["measured"] = evaluate_measured(engine, corpus, rng)
    results["claimed"] = evaluate_claimed(engine, corpus)
    results["swaps"] = evaluate_swaps(engine, corpus)
    results["capacity"] = capacity(engine, corpus)
    results["seconds"] = round(time.perf_counter() - started, 1)
    RESULTS_PATH.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps({k: results[k] for k in ("calibration", "swaps", "capacity")}, indent=1))
    if not args.no_plot:
        plot(results, PLOT_PATH)
    return 0


if __name__ == "__main__":
    sys.exit(main())
