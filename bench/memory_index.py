"""In-memory index benchmark: a million opted-out templates, the checks' search three ways.

    .venv/bin/python bench/memory_index.py                    # 1,000,000 templates, 500 queries
    .venv/bin/python bench/memory_index.py --templates 200000 --rebuild

Works in its own database (``bench_memory``), seeded like bench/search.py (synthetic face-like
templates, protected with the current key, bulk-loaded), with every template flagged
``opted_out``: the index then holds all of them, the hardest case for the checks' search. In the
same run it builds and measures

- the memory index (``MATCHING_INDEX=memory``): ``matching.services.search_index_build``'s build
  time and file size, a fresh worker process's memory after mapping it and answering queries,
  the index's own search time, and ``faces_nearest`` end to end as a check calls it (the index,
  then one statement re-checking the candidates and reading the changes since the build);
- the approach it replaces (``MATCHING_INDEX=pgvector``): pgvector's HNSW index of the opted-out
  templates (the migrations' m=32, ef_construction=64), ``faces_nearest`` the same way;
- the exact search as the reference: every query against every template in numpy (float64),
  and a few through PostgreSQL's exact scan for its time.

Agreement is counted as the issue states it: over the queries whose nearest template lies within
the review threshold, the share whose first hit is the same person as the exact search's.
Queries are fresh samples of registered people (4 in 5) and strangers. Results go to stdout and
``bench/results/memory_index.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
import search as search_bench
from django.conf import settings
from django.db import connection

from matching import selectors, services
from matching.lib import ann_index
from matching.selectors import SqlSubquery, faces_nearest
from matching.selectors.memory_index import current_index, current_index_forget
from matching.services.decide import HITS_PER_FACE
from matching.services.search_index import _opted_out_vectors
from registry.lib.template_protection import protect
from registry.models import FaceTemplate, Person
from registry.selectors import current_template_key_version, template_key

BENCH_DATABASE = "bench_memory"
RESULTS = search_bench.REPO_ROOT / "bench" / "results" / "memory_index.json"
REVIEW_BAND = search_bench.REVIEW_BAND
TABLE = FaceTemplate._meta.db_table

WORKER_PROBE = r"""
import sys, time, numpy as np
sys.path.insert(0, sys.argv[1])
def status():
    fields = {}
    for line in open("/proc/self/status"):
        if line.startswith(("RssAnon", "RssFile", "VmRSS")):
            fields[line.split(":")[0]] = int(line.split()[1]) // 1024
    return fields
before = status()
import faiss  # noqa: F401 - the library's own footprint is counted in "before"
before = status()
from matching.lib.ann_index import AnnIndexView
from pathlib import Path
started = time.perf_counter()
view = AnnIndexView(Path(sys.argv[2]))
opened = time.perf_counter() - started
queries = np.load(sys.argv[3])
for query in queries:
    view.search(query, 100, breadth=128)
after = status()
print({"open_s": round(opened, 3), "before_mb": before, "after_mb": after})
"""


def seed(templates: int, key_version: int, key: bytes, seed_value: int) -> dict:
    """Load the templates and flag them all opted out (before any vector index exists)."""
    timings = search_bench.load_templates(
        templates, seed=seed_value, key_version=key_version, key=key
    )
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {TABLE} SET opted_out = true")  # noqa: S608
        cursor.execute(f"VACUUM ANALYZE {TABLE}")
    timings["flag_s"] = round(time.perf_counter() - started, 1)
    return timings


def pgvector_index(*, rebuild: bool, workers: int, memory: str) -> float | None:
    """The checks' pgvector index as the migrations make it; None when it already exists."""
    with connection.cursor() as cursor:
        cursor.execute(f"DROP INDEX IF EXISTS {search_bench.INDEX_NAME}")
        cursor.execute(
            "SELECT 1 FROM pg_indexes WHERE indexname = %s", [search_bench.OPTOUT_INDEX_NAME]
        )
        exists = cursor.fetchone() is not None
    if exists and not rebuild:
        return None
    return round(
        search_bench.build_index(
            m=32,
            ef_construction=64,
            workers=workers,
            memory=memory,
            name=search_bench.OPTOUT_INDEX_NAME,
        ),
        1,
    )


def worker_memory(index_file: Path, rotated: np.ndarray) -> dict:
    """A fresh process maps the index and answers the queries: what one more worker costs."""
    queries = Path("/tmp") / f"bench_memory_queries_{os.getpid()}.npy"
    np.save(queries, rotated.astype(np.float32))
    try:
        output = subprocess.run(
            [
                sys.executable,
                "-c",
                WORKER_PROBE,
                str(search_bench.REPO_ROOT),
                str(index_file),
                str(queries),
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        queries.unlink(missing_ok=True)
    return eval(output.strip().splitlines()[-1])  # noqa: S307 - our own subprocess's dict


def first_person(hits) -> int | None:
    return hits[0].person_id if hits else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--templates", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--pg-exact-queries", type=int, default=10)
    parser.add_argument("--breadths", default="64,128,256", help="the index's HNSW ef to try")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--maintenance-work-mem", default="4GB")
    parser.add_argument("--rebuild", action="store_true", help="reload the templates")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--database", default=BENCH_DATABASE)
    args = parser.parse_args()

    search_bench.use_bench_database(args.database)
    settings.MATCHING_INDEX_DIR = search_bench.REPO_ROOT / "var" / "bench-index"
    version = current_template_key_version()
    key = template_key(version)
    results: dict = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "templates": args.templates,
        "queries": args.queries,
        "cpus": os.cpu_count(),
    }
    stored = FaceTemplate.objects.filter(opted_out=True).count()
    if args.rebuild or stored != args.templates:
        print(f"seeding {args.templates:,} opted-out templates ...", file=sys.stderr)
        results["seed"] = seed(args.templates, version, key, args.seed)
    people = Person.objects.count()

    print("pgvector's HNSW index of the opted-out templates ...", file=sys.stderr)
    results["pgvector_index_build_s"] = pgvector_index(
        rebuild=args.rebuild, workers=args.workers, memory=args.maintenance_work_mem
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_relation_size(%s)", [search_bench.OPTOUT_INDEX_NAME])
        results["pgvector_index_bytes"] = cursor.fetchone()[0]

    print("the memory index ...", file=sys.stderr)
    current_index_forget()
    build = services.search_index_build()
    results["memory_build"] = {
        "seconds": build.seconds,
        "file_bytes": build.file_bytes,
        "templates": build.templates,
        "bytes_per_template": round(build.file_bytes / max(1, build.templates), 1),
    }
    loaded = current_index()
    view = loaded.views[(search_bench.BENCH_MODEL, version)]

    queries, _strangers, _chosen = search_bench.make_queries(args.seed, people, args.queries)
    rotated = protect(queries, key)

    print("exact search in numpy (the reference) ...", file=sys.stderr)
    ids, vectors = _opted_out_vectors(search_bench.BENCH_MODEL, version)
    person_of = dict(FaceTemplate.objects.values_list("id", "person_id"))
    matrix = vectors.astype(np.float64)
    norms = np.einsum("ij,ij->i", matrix, matrix)
    truth_template, truth_distance = [], []
    started = time.perf_counter()
    for query in rotated:
        squared = norms - 2 * matrix @ query + query @ query
        best = int(np.argmin(squared))
        truth_template.append(int(ids[best]))
        truth_distance.append(float(np.sqrt(max(squared[best], 0.0))))
    results["exact_numpy_ms_per_query"] = round(
        1000 * (time.perf_counter() - started) / len(rotated), 2
    )
    del matrix
    truth_person = [person_of[t] for t in truth_template]
    within = [d <= REVIEW_BAND for d in truth_distance]
    results["queries_within_review_threshold"] = sum(within)

    def agreement(found_people: list[int | None]) -> float:
        pairs = [(f, t) for f, t, w in zip(found_people, truth_person, within, strict=True) if w]
        return round(sum(f == t for f, t in pairs) / max(1, len(pairs)), 4)

    index_only = {}
    for breadth in [int(b) for b in args.breadths.split(",")]:
        seconds, found = [], []
        for query in rotated:
            started = time.perf_counter()
            neighbours = view.search(query, 100, breadth=breadth)
            seconds.append(time.perf_counter() - started)
            found.append(person_of.get(int(neighbours.keys[0])) if len(neighbours.keys) else None)
        index_only[str(breadth)] = {
            **search_bench.summary_ms(seconds),
            "agreement": agreement(found),
        }
    results["memory_index_search_only"] = index_only

    candidates = SqlSubquery(sql=f"SELECT id FROM {Person._meta.db_table}", params=())  # noqa: S608

    def checks_search(mode: str) -> dict:
        settings.MATCHING_INDEX = mode
        selectors.template_key_versions_forget()
        found_people: list[list[int]] = []
        for query in queries[:20]:  # warm the caches and the connection
            faces_nearest(
                embedding=query,
                limit=HITS_PER_FACE,
                person_ids=candidates,
                max_distance=REVIEW_BAND,
                opted_out_only=True,
            )
        _found, seconds = search_bench.timed(
            faces_nearest,
            queries,
            found_people,
            limit=HITS_PER_FACE,
            person_ids=candidates,
            max_distance=REVIEW_BAND,
            opted_out_only=True,
        )
        first = [people_found[0] if people_found else None for people_found in found_people]
        return {**search_bench.summary_ms(seconds), "agreement": agreement(first)}

    print("faces_nearest through each ...", file=sys.stderr)
    results["faces_nearest"] = {
        "memory": checks_search("memory"),
        "pgvector": checks_search("pgvector"),
    }
    settings.MATCHING_INDEX = "memory"

    _found, pg_exact = search_bench.timed(
        faces_nearest,
        queries[: args.pg_exact_queries],
        limit=HITS_PER_FACE,
        person_ids=candidates,
        max_distance=REVIEW_BAND,
        opted_out_only=True,
        exact=True,
    )
    results["faces_nearest"]["postgresql_exact"] = search_bench.summary_ms(pg_exact)

    print("one more worker's memory ...", file=sys.stderr)
    results["worker_memory"] = worker_memory(view.path, rotated[:200])
    results["ann_index"] = {
        "library": "faiss " + __import__("faiss").__version__,
        "connectivity": ann_index.CONNECTIVITY,
        "build_breadth": ann_index.BUILD_BREADTH,
    }

    print(json.dumps(results, indent=2))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
