"""Image checks end to end against plain face_recognition, on the ../shared/faces photos.

    .venv/bin/python bench/checks_images.py                 # 3 repeats per photo and side
    .venv/bin/python bench/checks_images.py --repeats 5

In its own database (``bench_images`` on the embedded server), every person of the manifest is
enrolled from their first photo through ``lifecycle.services.person_enroll`` and opts out of all
uses (``consent.services.optout_record``), as a real registry would hold them. Then every photo
of the manifest (single-person and group photos) is checked both ways, alternating so that
background load on this shared machine hits both alike:

- **registry**: ``matching.services.image_check`` -- the whole synchronous API check after the
  upload is read: type sniffing and safe decoding, coarse-to-fine detection, embedding, the
  filtered HNSW search in PostgreSQL, the per-person decision, consent lookups, the signed
  receipt and the stored check for matches;
- **naive**: plain face_recognition as its README shows it: ``load_image_file``,
  ``face_locations(image, 1, "hog")`` (HOG, one upsample, full resolution),
  ``face_encodings`` and ``face_distance`` against every enrolled encoding in Python, a match
  at <= 0.6.

Times are wall-clock per image (this process plus PostgreSQL), the fastest of ``--repeats``
(the cost of the work itself; medians are reported too), and the CPU time of this process
(what other processes on a shared machine disturb least; it leaves out PostgreSQL's share of
the registry side, a few milliseconds per check: see bench/search.py). "The same people"
compares, per photo, the set of enrolled people each side reports as a match. Results: stdout and
``bench/results/checks_images.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import search as search_bench  # sets up Django with the project settings

REPO_ROOT = search_bench.REPO_ROOT
FACES_DIR = Path(os.environ.get("FACES_DIR", REPO_ROOT.parent / "shared" / "faces"))
BENCH_DATABASE = "bench_images"
RESULTS = REPO_ROOT / "bench" / "results" / "checks_images.json"


def _face_recognition():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import face_recognition
    return face_recognition


def enroll_everyone(manifest: dict) -> dict[str, object]:
    """Enroll each person from their first photo and opt them out; {name: person}."""
    from django.db import connection

    from consent.services import optout_record
    from lifecycle.services import person_enroll
    from registry.services import person_create

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE registry_person, registry_user CASCADE")
    people = {}
    for name, photos in manifest["people"].items():
        person = person_create(email=f"{name}@bench.test", display_name=name)
        first = photos[0]
        result = person_enroll(
            person=person, images=[(Path(first).name, (FACES_DIR / first).read_bytes())]
        )
        assert result.accepted, (name, [p.reason for p in result.photos])
        optout_record(person=person, categories=None)
        people[name] = person
    from matching.selectors import template_key_versions_forget

    template_key_versions_forget()
    return people


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    search_bench.use_bench_database(BENCH_DATABASE)
    from matching import services
    from matching.engine import get_engine
    from registry.models import Organisation
    from registry.services import organisation_create

    manifest = json.loads((FACES_DIR / "manifest.json").read_text())
    people = enroll_everyone(manifest)
    organisation = Organisation.objects.filter(slug="bench-images").first()
    if organisation is None:
        organisation = organisation_create(name="bench images", kind="platform", owner=None)
        organisation.slug = "bench-images"
        organisation.save(update_fields=["slug"])

    face_recognition = _face_recognition()
    known_names = list(manifest["people"])
    known = [
        face_recognition.face_encodings(
            face_recognition.load_image_file(FACES_DIR / manifest["people"][name][0])
        )[0]
        for name in known_names
    ]

    def naive(path: Path) -> set[str]:
        image = face_recognition.load_image_file(path)
        locations = face_recognition.face_locations(image, 1, "hog")
        found = set()
        for encoding in face_recognition.face_encodings(image, locations):
            distances = face_recognition.face_distance(known, encoding)
            best = int(distances.argmin())
            if distances[best] <= 0.6:
                found.add(known_names[best])
        return found

    def registry(path: Path) -> set[str]:
        data = path.read_bytes()
        body = services.image_check(
            data=data, category="commercial", organisation=organisation, api_key=None
        )
        faces = body["result"]["faces"]
        # A platform sees references; the bench maps them back through the operator view.
        return {f["reference"] for f in faces if f["match"] == "match"}

    def reference_names() -> dict[str, str]:
        return {
            services.opaque_reference(organisation_id=organisation.pk, person_id=p.pk): name
            for name, p in people.items()
        }

    names_by_reference = reference_names()
    get_engine().load()
    photos = [p for files in manifest["people"].values() for p in files] + list(manifest["groups"])
    rows = []
    for relative in photos:
        path = FACES_DIR / relative
        naive_s, registry_s, naive_cpu, registry_cpu = [], [], [], []
        for _ in range(args.repeats):
            started, cpu = time.perf_counter(), time.process_time()
            naive_found = naive(path)
            naive_s.append(time.perf_counter() - started)
            naive_cpu.append(time.process_time() - cpu)
            started, cpu = time.perf_counter(), time.process_time()
            registry_found = {names_by_reference[r] for r in registry(path)}
            registry_s.append(time.perf_counter() - started)
            registry_cpu.append(time.process_time() - cpu)
        rows.append(
            {
                "photo": relative,
                "naive_ms": round(min(naive_s) * 1000, 1),
                "registry_ms": round(min(registry_s) * 1000, 1),
                "naive_cpu_ms": round(min(naive_cpu) * 1000, 1),
                "registry_cpu_ms": round(min(registry_cpu) * 1000, 1),
                "naive_median_ms": round(statistics.median(naive_s) * 1000, 1),
                "registry_median_ms": round(statistics.median(registry_s) * 1000, 1),
                "naive_found": sorted(naive_found),
                "registry_found": sorted(registry_found),
                "same_people": naive_found == registry_found,
            }
        )
        row = rows[-1]
        print(
            f"{relative:45} naive {row['naive_ms']:8.1f} ms  registry {row['registry_ms']:7.1f} ms"
            f"  {'same' if row['same_people'] else 'DIFFERENT'} {row['registry_found']}",
            file=sys.stderr,
            flush=True,
        )
    naive_total = sum(r["naive_ms"] for r in rows)
    registry_total = sum(r["registry_ms"] for r in rows)
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "load_avg": os.getloadavg()},
        "photos": len(rows),
        "repeats": args.repeats,
        "naive_ms_per_image": round(naive_total / len(rows), 1),
        "registry_ms_per_image": round(registry_total / len(rows), 1),
        "speedup": round(naive_total / registry_total, 2),
        "naive_cpu_ms_per_image": round(sum(r["naive_cpu_ms"] for r in rows) / len(rows), 1),
        "registry_cpu_ms_per_image": round(sum(r["registry_cpu_ms"] for r in rows) / len(rows), 1),
        "cpu_speedup": round(
            sum(r["naive_cpu_ms"] for r in rows) / sum(r["registry_cpu_ms"] for r in rows), 2
        ),
        "naive_median_ms": statistics.median(r["naive_ms"] for r in rows),
        "registry_median_ms": statistics.median(r["registry_ms"] for r in rows),
        "same_people_on_every_photo": all(r["same_people"] for r in rows),
        "rows": rows,
    }
    print(json.dumps({k: v for k, v in report.items() if k != "rows"}, indent=2))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
