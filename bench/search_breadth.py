"""Where HNSW's recall is lost, and what a query-adaptive search breadth would buy.

    .venv/bin/python bench/search_breadth.py            # on bench/search.py's database
    .venv/bin/python bench/search_breadth.py --queries 300 --first 40,64 --wide 200,400

An analysis, not a setting of the product (docs/benchmarks.md, search, "A query-adaptive
breadth"). Runs on the database ``bench/search.py`` builds (``bench_search``: 1M templates, both
indexes; run that first) with the same queries (fresh photos of enrolled people and strangers).
For each query it records the exact nearest template and, per ef_search in ``--first`` and
``--wide``, the nearest template found and the time taken; then reports

- each miss of the widest first pass (stranger or not, exact and found distances, whether the
  widest setting finds it: a miss found by a wider search is breadth, not an unreachable node);
- the simulated adaptive search: a first pass, widened when its nearest hit is further than
  ``--confident`` (default 0.5), with recall@1, median / p90 time and the share widened;
- the same for the checks' search on the opted-out templates' index (the search the product
  runs; its pool is the ef_search), against the exact search over the opted-out people, with the
  range of first-pass nearest distances per kind of query: photos of opted-out people, other
  enrolled people, strangers.
Recall@1 here counts every query (bench/search.py's filtered "agreement" counts only those with a
candidate within the review band).

Settings run in turn for every query, so caches are colder than in bench/search.py's batches:
compare times within this report. Results go to stdout and ``bench/results/search_breadth.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
import search as search_bench  # sets Django up
from django.db.models import F

from matching import selectors
from registry.models import FaceTemplate, Person

RESULTS = search_bench.REPO_ROOT / "bench" / "results" / "search_breadth.json"


def nearest(query: np.ndarray, **kwargs) -> tuple[int | None, float | None, float]:
    """The nearest template id, its distance and the milliseconds the search took."""
    started = time.perf_counter()
    hits = selectors.faces_nearest(embedding=query, limit=10, **kwargs)
    elapsed = (time.perf_counter() - started) * 1000
    return (hits[0].template_id, hits[0].distance, elapsed) if hits else (None, None, elapsed)


def measure(queries: np.ndarray, settings: list[int], **kwargs) -> list[dict]:
    rows = []
    for query in queries:
        exact_id, exact_distance, _ = nearest(query, exact=True, **kwargs)
        row = {"exact": exact_id, "exact_distance": exact_distance}
        for ef in settings:
            row[ef] = nearest(query, ef_search=ef, candidate_pool=ef, **kwargs)
        rows.append(row)
    return rows


def adaptive(rows: list[dict], first: int, wide: int, confident: float) -> dict:
    """Recall@1 and time of: ``first``, then ``wide`` when the nearest hit is beyond
    ``confident`` (or there is none)."""
    times, right, widened = [], 0, 0
    for row in rows:
        found, distance, ms = row[first]
        if distance is None or distance > confident:
            found, _distance, wide_ms = row[wide]
            ms += wide_ms
            widened += 1
        times.append(ms)
        right += found == row["exact"]
    times.sort()
    return {
        "first": first,
        "wide": wide,
        "recall_at_1": round(right / len(rows), 4),
        "median_ms": round(statistics.median(times), 2),
        "p90_ms": round(times[int(0.9 * len(times))], 2),
        "widened": round(widened / len(rows), 3),
    }


def single_pass(rows: list[dict]) -> list[dict]:
    settings = sorted(key for key in rows[0] if isinstance(key, int))
    return [
        {
            "ef_search": ef,
            "recall_at_1": round(sum(r[ef][0] == r["exact"] for r in rows) / len(rows), 4),
            "median_ms": round(statistics.median(r[ef][2] for r in rows), 2),
        }
        for ef in settings
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--first", default="40,64", help="first-pass ef_search values")
    parser.add_argument("--wide", default="200,400", help="widened ef_search values")
    parser.add_argument("--confident", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=2026, help="bench/search.py's --seed")
    parser.add_argument("--database", default=search_bench.BENCH_DATABASE)
    args = parser.parse_args()
    firsts = [int(v) for v in args.first.split(",")]
    wides = [int(v) for v in args.wide.split(",")]

    search_bench.use_bench_database(args.database)
    people = FaceTemplate.objects.count() // search_bench.TEMPLATES_PER_PERSON
    if not people:
        sys.exit("no templates: run bench/search.py first")
    queries, strangers, chosen = search_bench.make_queries(args.seed, people, args.queries)
    warm, _, _ = search_bench.make_queries(args.seed + 7, people, 500)
    for query in warm:
        nearest(query, ef_search=100)
    report: dict = {"queries": args.queries, "strangers": int(strangers.sum())}

    print("unfiltered ...", file=sys.stderr, flush=True)
    rows = measure(queries, sorted(set(firsts + wides)))
    widest = max(firsts)
    report["misses"] = [
        {
            "stranger": bool(strangers[i]),
            "exact_distance": round(row["exact_distance"], 4),
            "found_distance": round(row[widest][1], 4),
            "found_by_widest": row[max(wides)][0] == row["exact"],
        }
        for i, row in enumerate(rows)
        if row[widest][0] != row["exact"]
    ]
    report["unfiltered_single_pass"] = single_pass(rows)
    report["unfiltered"] = [adaptive(rows, f, w, args.confident) for f in firsts for w in wides]

    print("checks' search (opted-out index) ...", file=sys.stderr, flush=True)
    by_position = np.array(Person.objects.order_by("id").values_list("id", flat=True))
    optout_photos = ~strangers & (by_position[chosen] % 3 == 0)
    candidates = Person.objects.annotate(bucket=F("id") % 3).filter(bucket=0).values("id")
    checks = measure(
        queries, sorted(set(firsts + wides)), person_ids=candidates, opted_out_only=True
    )
    kinds = np.where(optout_photos, "opt-out photo", np.where(strangers, "stranger", "other"))
    report["checks_first_nearest"] = {}
    for kind in ("opt-out photo", "other", "stranger"):
        found = [checks[i][min(firsts)][1] for i in np.flatnonzero(kinds == kind)]
        report["checks_first_nearest"][kind] = {
            "count": len(found),
            "found_distance_min_max": [round(min(found), 3), round(max(found), 3)],
        }
    report["checks_single_pass"] = single_pass(checks)
    report["checks"] = [adaptive(checks, f, w, args.confident) for f in firsts for w in wides]

    print(json.dumps(report, indent=2))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
