"""Video analysis against checking every frame with plain face_recognition.

Run from the repository root:

    .venv/bin/python bench/video.py                 # both clips
    .venv/bin/python bench/video.py --naive-frames 300

Two clips:

* ``short``: the shared ``video/short_hamilton_clip.mp4`` (640x360, 9.2 s, 275 frames), with
  Lin-Manuel Miranda (``lin1.png``) as the only registered person.
* ``long``: a 1280x720, 25 fps clip built here from the shared photos (kept in
  ``var/bench/``): head-and-shoulders crops of six people drifting across a textured,
  slowly panning background, alone or two at a time, at known times. Four people are
  registered (a *different* photo of each is the reference), two are not.

Baseline ("naive"): decode every frame, ``face_recognition.face_locations(frame, 1, "hog")``
(HOG upsampled once at full resolution), ``face_encodings`` for every face found, and a
comparison with every reference. On the long clip that takes about 1.4 s per frame, so unless
``--naive-frames 0`` is given only that many contiguous frames (from ``--naive-from-s``) are
timed and the total is extrapolated per frame; the output says which.

Ours: ``matching.video.analyse_video`` (sampled detection at 640 px, tracking, a few embeddings
per track), then the same comparison per track. Decoding is timed on both sides, as wall time
and as this process's CPU time (all threads): the machine is shared, and CPU time is what
other processes' load disturbs least, so speed-ups are given both ways.

An appearance of a registered person counts as found when a track overlapping its time span
matches that person (distance <= the engine's threshold); a false match is a track matched to
a registered person it does not overlap an appearance of. Writes bench/results/video.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from matching.engine import get_engine  # noqa: E402
from matching.lib.imaging import decode_image  # noqa: E402
from matching.video import analyse_video  # noqa: E402

FACES_DIR = Path(os.environ.get("FACES_DIR", REPO_ROOT.parent / "shared" / "faces"))
BENCH_DIR = REPO_ROOT / "var" / "bench"
RESULTS_PATH = REPO_ROOT / "bench" / "results" / "video.json"
MAX_PIXELS = 40_000_000

SHORT_CLIP = "video/short_hamilton_clip.mp4"
SHORT_REFERENCES = {"lin_manuel_miranda": "people/lin_manuel_miranda/lin1.png"}
SHORT_APPEARANCES = [("lin_manuel_miranda", 0.0, 7.0)]

LONG_SIZE = (1280, 720)
LONG_FPS = 25
LONG_SECONDS = 60
# The reference photo of each registered person; the clip shows other photos of them.
LONG_REFERENCES = {
    "obama": "people/obama/obama.jpg",
    "biden": "people/biden/biden.jpg",
    "kit_harington": "people/kit_harington/kit1.jpg",
    "alex_lacamoire": "people/alex_lacamoire/alex1.png",
}


@dataclass(frozen=True)
class Appearance:
    person: str
    photo: str
    start_s: float
    end_s: float
    #: Face width in the 1280x720 frame, and where its crop's centre goes from and to.
    face_px: int
    start_xy: tuple[int, int]
    end_xy: tuple[int, int]
    registered: bool


LONG_APPEARANCES = [
    Appearance("obama", "people/obama/obama2.jpg", 1.0, 7.0, 200, (400, 360), (560, 360), True),
    Appearance(
        "rose_leslie",
        "people/rose_leslie/rose1.jpg",
        5.0,
        11.0,
        150,
        (1000, 300),
        (900, 340),
        False,
    ),
    Appearance("biden", "people/biden/biden2.jpg", 9.0, 15.0, 170, (300, 380), (420, 330), True),
    Appearance(
        "kit_harington",
        "people/kit_harington/kit2.jpg",
        17.0,
        24.0,
        140,
        (640, 360),
        (760, 400),
        True,
    ),
    Appearance(
        "lin_manuel_miranda",
        "people/lin_manuel_miranda/lin1.png",
        22.0,
        28.0,
        160,
        (300, 360),
        (260, 300),
        False,
    ),
    Appearance(
        "alex_lacamoire",
        "people/alex_lacamoire/alex2.jpg",
        30.0,
        36.0,
        180,
        (900, 360),
        (700, 360),
        True,
    ),
    Appearance("obama", "people/obama/obama3.jpg", 38.0, 44.0, 130, (300, 300), (380, 420), True),
    Appearance(
        "kit_harington",
        "people/kit_harington/kit3.jpg",
        40.0,
        46.0,
        220,
        (950, 360),
        (900, 360),
        True,
    ),
    Appearance(
        "rose_leslie",
        "people/rose_leslie/rose2.jpg",
        48.0,
        53.0,
        170,
        (640, 340),
        (640, 380),
        False,
    ),
    Appearance("biden", "people/biden/biden.jpg", 52.0, 58.0, 150, (1000, 380), (1080, 360), True),
]


def _import_face_recognition():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import face_recognition
    return face_recognition


def read_rgb(relative: str) -> np.ndarray:
    return decode_image((FACES_DIR / relative).read_bytes(), max_pixels=MAX_PIXELS)


# -- building the long clip ------------------------------------------------------------------


def _face_crop(engine, appearance: Appearance) -> np.ndarray:
    """Head and shoulders around the photo's largest face, scaled to the wanted face width."""
    photo = read_rgb(appearance.photo)
    box = engine.detect(photo)[0]
    size = box.width
    left = max(0, box.left - size)
    right = min(photo.shape[1], box.right + size)
    top = max(0, box.top - size)
    bottom = min(photo.shape[0], box.bottom + size * 2)
    crop = Image.fromarray(photo[top:bottom, left:right])
    factor = appearance.face_px / size
    crop = crop.resize(
        (round(crop.width * factor), round(crop.height * factor)), Image.Resampling.LANCZOS
    )
    return np.asarray(crop)


def _background() -> np.ndarray:
    width, height = LONG_SIZE
    rng = np.random.default_rng(11)
    x = np.linspace(0, 1, width * 2)[None, :, None]
    y = np.linspace(0, 1, height)[:, None, None]
    gradient = 60 + 90 * x * np.array([0.6, 0.8, 1.0]) + 40 * y * np.array([1.0, 0.7, 0.4])
    noise = rng.normal(0, 18, size=(height, width * 2, 1))
    return np.clip(gradient + noise, 0, 255).astype(np.uint8)


def _paste(frame: np.ndarray, crop: np.ndarray, centre: tuple[float, float]) -> None:
    height, width = crop.shape[:2]
    left = round(centre[0] - width / 2)
    top = round(centre[1] - height / 2)
    f_top, f_left = max(0, top), max(0, left)
    f_bottom = min(frame.shape[0], top + height)
    f_right = min(frame.shape[1], left + width)
    if f_bottom <= f_top or f_right <= f_left:
        return
    frame[f_top:f_bottom, f_left:f_right] = crop[
        f_top - top : f_bottom - top, f_left - left : f_right - left
    ]


def long_clip_path() -> Path:
    spec = json.dumps(
        [LONG_SIZE, LONG_FPS, LONG_SECONDS, [a.__dict__ for a in LONG_APPEARANCES]],
        sort_keys=True,
    )
    digest = hashlib.sha256(spec.encode()).hexdigest()[:10]
    return BENCH_DIR / f"long_720p_{digest}.mp4"


def build_long_clip(engine) -> Path:
    path = long_clip_path()
    if path.is_file():
        return path
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    crops = [_face_crop(engine, a) for a in LONG_APPEARANCES]
    background = _background()
    width, height = LONG_SIZE
    partial = path.with_suffix(".partial.mp4")
    with av.open(str(partial), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=LONG_FPS)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "23"}
        for index in range(LONG_SECONDS * LONG_FPS):
            t = index / LONG_FPS
            shift = int(t * 8) % width  # a slow pan of the background
            frame = background[:, shift : shift + width].copy()
            for appearance, crop in zip(LONG_APPEARANCES, crops, strict=True):
                if appearance.start_s <= t < appearance.end_s:
                    k = (t - appearance.start_s) / (appearance.end_s - appearance.start_s)
                    centre = (
                        appearance.start_xy[0]
                        + k * (appearance.end_xy[0] - appearance.start_xy[0]),
                        appearance.start_xy[1]
                        + k * (appearance.end_xy[1] - appearance.start_xy[1]),
                    )
                    _paste(frame, crop, centre)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    partial.rename(path)
    return path


# -- the two pipelines -----------------------------------------------------------------------


def naive(path: Path, references: dict[str, np.ndarray], fr, *, start_s: float, frames: int):
    """Every frame from ``start_s`` (``frames`` of them, 0 = all): detect, embed, compare."""
    names = list(references)
    gallery = np.stack([references[n] for n in names])
    started, started_cpu = time.perf_counter(), time.process_time()
    timed = 0
    hits: dict[str, list[float]] = {}
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        origin = None
        for frame in container.decode(stream):
            origin = frame.time if origin is None else origin
            t = frame.time - origin
            if t + 1e-6 < start_s:
                continue
            rgb = frame.to_ndarray(format="rgb24")
            locations = fr.face_locations(rgb, 1, "hog")
            for vector in fr.face_encodings(rgb, locations):
                distances = np.linalg.norm(gallery - vector, axis=1)
                best = int(distances.argmin())
                if distances[best] <= 0.6:
                    hits.setdefault(names[best], []).append(round(t, 2))
            timed += 1
            if frames and timed >= frames:
                break
    elapsed = time.perf_counter() - started
    return elapsed, time.process_time() - started_cpu, timed, hits


def ours(path: Path, references: dict[str, np.ndarray], engine, sample_every_s: float):
    names = list(references)
    gallery = np.stack([references[n] for n in names])
    started, started_cpu = time.perf_counter(), time.process_time()
    analysis = analyse_video(path, engine=engine, sample_every_s=sample_every_s)
    matched = []
    for track in analysis.tracks:
        best_name, best_distance = None, float("inf")
        for vector in track.embeddings:
            distances = engine.distances(vector, gallery)
            index = int(distances.argmin())
            if distances[index] < best_distance:
                best_name, best_distance = names[index], float(distances[index])
        matched.append(
            (track, best_name if engine.classify(best_distance) == "match" else None, best_distance)
        )
    elapsed = time.perf_counter() - started
    return elapsed, time.process_time() - started_cpu, analysis, matched


def score(matched, appearances: list[tuple[str, float, float]], registered: set[str]):
    found = []
    for person, start, end in appearances:
        if person not in registered:
            continue
        hit = any(
            name == person and any(a <= end and start <= b for a, b in track.spans)
            for track, name, _ in matched
        )
        found.append({"person": person, "start_s": start, "end_s": end, "found": hit})
    false_matches = []
    for track, name, distance in matched:
        if name is None:
            continue
        overlaps_own = any(
            p == name and any(a <= end and start <= b for a, b in track.spans)
            for p, start, end in appearances
        )
        if not overlaps_own:
            false_matches.append(
                {"track": track.as_dict(), "matched": name, "distance": round(distance, 3)}
            )
    return found, false_matches


def run_clip(name, path, references, appearances, engine, fr, args, *, frames_total):
    print(f"\n== {name}: {path.name}", flush=True)
    registered = set(references)
    load_before = os.getloadavg()[0]
    elapsed, cpu, analysis, matched = ours(path, references, engine, args.sample_every_s)
    found, false_matches = score(matched, appearances, registered)
    print(
        f"ours: {elapsed:.1f} s wall, {cpu:.1f} s CPU, {analysis.frames_sampled} samples, "
        f"{analysis.embeddings_computed} embeddings, {len(analysis.tracks)} tracks; found "
        f"{sum(f['found'] for f in found)}/{len(found)} registered appearances, "
        f"{len(false_matches)} false matches",
        flush=True,
    )
    for track, person, distance in matched:
        spans = [(round(a, 1), round(b, 1)) for a, b in track.spans]
        print(f"   track {track.track_id}: {spans} -> {person} ({distance:.3f})")
    naive_frames = 0 if name == "short" else args.naive_frames
    naive_start = 0.0 if name == "short" else args.naive_from_s
    n_elapsed, n_cpu, n_timed, hits = naive(
        path, references, fr, start_s=naive_start, frames=naive_frames
    )
    measured_fully = n_timed >= frames_total
    factor = 1.0 if measured_fully else frames_total / n_timed
    naive_wall, naive_cpu = n_elapsed * factor, n_cpu * factor
    print(
        f"naive: {n_elapsed:.1f} s wall, {n_cpu:.1f} s CPU for {n_timed} frames"
        + ("" if measured_fully else f" -> estimated {naive_wall:.0f} s for {frames_total}")
        + f"; speed-up {naive_wall / elapsed:.1f}x wall, {naive_cpu / cpu:.1f}x CPU",
        flush=True,
    )
    return {
        "clip": str(path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path),
        "frames": frames_total,
        "duration_s": analysis.duration_s,
        "size": [analysis.width, analysis.height],
        "load_average": [round(load_before, 1), round(os.getloadavg()[0], 1)],
        "ours": {
            "wall_s": round(elapsed, 2),
            "cpu_s": round(cpu, 2),
            "samples": analysis.frames_sampled,
            "sample_every_s": analysis.sample_every_s,
            "embeddings": analysis.embeddings_computed,
            "tracks": [
                {**t.as_dict(), "matched": p, "distance": round(d, 3)} for t, p, d in matched
            ],
        },
        "naive": {
            "measured_frames": n_timed,
            "measured_from_s": naive_start,
            "measured_wall_s": round(n_elapsed, 2),
            "measured_cpu_s": round(n_cpu, 2),
            "per_frame_cpu_s": round(n_cpu / n_timed, 4),
            "extrapolated": not measured_fully,
            "total_wall_s": round(naive_wall, 1),
            "total_cpu_s": round(naive_cpu, 1),
            "matched_people": {k: [v[0], v[-1], len(v)] for k, v in hits.items()},
        },
        "speedup_wall": round(naive_wall / elapsed, 1),
        "speedup_cpu": round(naive_cpu / cpu, 1),
        "registered_appearances_found": sum(f["found"] for f in found),
        "registered_appearances": len(found),
        "appearances": found,
        "false_matches": false_matches,
    }


def count_frames(path: Path) -> int:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return stream.frames or sum(1 for _ in container.decode(stream))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", default="short,long", help="short, long or both")
    parser.add_argument("--sample-every-s", type=float, default=0.5)
    parser.add_argument(
        "--naive-frames",
        type=int,
        default=300,
        help="contiguous frames of the long clip timed for the baseline (0: all of them)",
    )
    parser.add_argument("--naive-from-s", type=float, default=15.0)
    args = parser.parse_args()

    engine = get_engine()
    engine.load()
    fr = _import_face_recognition()
    results = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "pyav": av.__version__,
        },
        "command": "python bench/video.py " + " ".join(sys.argv[1:]),
    }
    clips = args.clips.split(",")
    if "short" in clips:
        references = {p: engine.analyse(read_rgb(f))[0].vector for p, f in SHORT_REFERENCES.items()}
        path = FACES_DIR / SHORT_CLIP
        results["short"] = run_clip(
            "short",
            path,
            references,
            SHORT_APPEARANCES,
            engine,
            fr,
            args,
            frames_total=count_frames(path),
        )
    if "long" in clips:
        path = build_long_clip(engine)
        references = {p: engine.analyse(read_rgb(f))[0].vector for p, f in LONG_REFERENCES.items()}
        appearances = [(a.person, a.start_s, a.end_s) for a in LONG_APPEARANCES]
        results["long"] = run_clip(
            "long", path, references, appearances, engine, fr, args, frames_total=count_frames(path)
        )
    RESULTS_PATH.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(RESULTS_PATH.read_text()) if RESULTS_PATH.is_file() else {}
    previous.update(results)
    RESULTS_PATH.write_text(json.dumps(previous, indent=2) + "\n")
    print(f"\nwrote {RESULTS_PATH.relative_to(REPO_ROOT)}")


if __name__ == "__main__":
    main()
