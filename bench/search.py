"""Search benchmark: a million protected face templates in PostgreSQL + pgvector.

    .venv/bin/python bench/search.py                         # 1,000,000 templates, 500 queries
    .venv/bin/python bench/search.py --templates 100000 --rebuild
    .venv/bin/python bench/search.py --m 32 --ef-construction 64 --ef-search 40,64,100

Works in its own database (``bench_search`` on the configured server, so the development data is
never touched). Templates look like face embeddings: one centre per synthetic person, several
noisy samples around it (spread and distances like dlib's: same person ~0.35 apart, different
people ~1.0 and more), protected with the current template key exactly as enrollment stores them,
and bulk-loaded with binary COPY. The HNSW index (``template_embedding_hnsw``, the migration's
name) is then rebuilt with the given parameters and its build time measured. An existing bench
database of the requested size is reused unless ``--rebuild`` is given.

Then, in the same run, ``matching.selectors.faces_nearest`` (the code path checks use) is timed
- through the HNSW index, for each ``--ef-search`` value, with recall@1 and recall@10 against
- the exact search (``exact=True``: the same query with index scans disabled), also timed;
- the filtered search over the index of every template (candidates = a third of the people);
- the checks' search as deployed: the same candidates' templates flagged ``opted_out`` and
  searched through their own partial index (``template_optout_hnsw``), for each
  ``--optout-pools`` size (pool = ef_search), against the exact filtered search;
- and the naive approach: every template loaded into numpy and compared in Python.
Queries are fresh samples of enrolled people (the nearest template is theirs) plus strangers.
Results are printed and saved to ``bench/results/search.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import struct
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "registry.settings")

import django  # noqa: E402 (Django must be configured before the project imports below)
import numpy as np  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

# This benchmark measures pgvector's paths (the checks' memory index has bench/memory_index.py);
# bench/search_breadth.py and bench/memory_index.py import this module and inherit it, the
# latter switching per measurement.
settings.MATCHING_INDEX = "pgvector"

from django.core.management import call_command  # noqa: E402
from django.db import connection, connections  # noqa: E402
from django.db.models import F  # noqa: E402
from psycopg import sql  # noqa: E402

from matching import selectors  # noqa: E402
from matching.engine import get_engine  # noqa: E402
from registry.lib.template_protection import protect  # noqa: E402
from registry.models import FaceTemplate, Person  # noqa: E402

BENCH_DATABASE = "bench_search"
# The synthetic templates are stored under the active engine's model, the one searches compare.
BENCH_MODEL = get_engine().name
RESULTS = REPO_ROOT / "bench" / "results" / "search.json"
DIMENSIONS = 128
TEMPLATES_PER_PERSON = 4
CHUNK_PEOPLE = 25_000
# Synthetic faces, shaped like dlib's embeddings. Face embeddings are far from isotropic: people
# (and one person's photos) differ mostly along a few dozen directions, so both the spread of
# people's centres and of a person's photos around their centre follow a decaying, PCA-like
# spectrum (variance ~ exp(-i / SPECTRUM_DECAY), an effective dimension of about 30). Scaled so
# two people's centres are ~1.0 apart on average and two photos of one person ~0.35 (dlib on
# ../shared/faces: same person 0.3-0.52, different people 0.7 and more). ``--isotropic-noise``
# spreads a person's photos evenly over all 128 dimensions instead: a harder, less face-like
# case, reported separately in docs/benchmarks.md.
SPECTRUM_DECAY = 30.0
_SPECTRUM = np.exp(-np.arange(128) / SPECTRUM_DECAY)
CENTRE_SD = np.sqrt(_SPECTRUM) * np.sqrt(0.5 / np.sum(_SPECTRUM))
SAMPLE_SD = np.sqrt(_SPECTRUM) * np.sqrt(0.35**2 / 2 / np.sum(_SPECTRUM))
ISOTROPIC_SAMPLE_SD = np.full(128, 0.35 / np.sqrt(2 * 128))
# The checks' review band (the engine's review threshold): the hits a check asks for.
REVIEW_BAND = 0.68


def use_bench_database(name: str) -> None:
    """Create the benchmark database if needed and point the default connection at it."""
    connection.ensure_connection()
    raw = connection.connection
    raw.autocommit = True
    with raw.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if cursor.fetchone() is None:
            cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    connections.close_all()
    connection.settings_dict["NAME"] = name
    call_command("migrate", verbosity=0, interactive=False)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def summary_ms(seconds: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in seconds]
    return {
        "samples": len(ms),
        "median_ms": round(statistics.median(ms), 3),
        "p90_ms": round(percentile(ms, 0.90), 3),
        "p99_ms": round(percentile(ms, 0.99), 3),
        "mean_ms": round(statistics.fmean(ms), 3),
    }


def person_centres(seed: int, people: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, CENTRE_SD, size=(people, DIMENSIONS))


def _copy_binary_vectors(person_ids: np.ndarray, vectors: np.ndarray) -> bytes:
    """PostgreSQL binary COPY data for rows (person_id int4, embedding vector)."""
    rows = np.zeros(
        len(person_ids),
        dtype=np.dtype(
            [
                ("fields", ">i2"),
                ("len_person", ">i4"),
                ("person", ">i4"),
                ("len_vector", ">i4"),
                ("dim", ">i2"),
                ("unused", ">i2"),
                ("values", ">f4", (DIMENSIONS,)),
            ]
        ),
    )
    rows["fields"] = 2
    rows["len_person"] = 4
    rows["person"] = person_ids
    rows["len_vector"] = 4 + 4 * DIMENSIONS
    rows["dim"] = DIMENSIONS
    rows["values"] = vectors
    header = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
    return header + rows.tobytes() + struct.pack(">h", -1)


def load_templates(
    templates: int,
    *,
    seed: int,
    key_version: int,
    key: bytes,
    per_person: int = TEMPLATES_PER_PERSON,
    noise_sd: np.ndarray = SAMPLE_SD,
) -> dict[str, float]:
    """Create ``templates / per_person`` people and their protected templates; returns timings.

    People are created in order, so the i-th person by id has centre ``person_centres()[i]``.
    """
    people = templates // per_person
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {FaceTemplate._meta.db_table}, {Person._meta.db_table} CASCADE")
        cursor.execute(f"DROP INDEX IF EXISTS {INDEX_NAME}")
        cursor.execute(f"DROP INDEX IF EXISTS {OPTOUT_INDEX_NAME}")
        cursor.execute("DROP TABLE IF EXISTS bench_staging")
        cursor.execute("CREATE UNLOGGED TABLE bench_staging (person_id int4, embedding vector)")
    centres = person_centres(seed, people)
    rng = np.random.default_rng(seed + 1)
    raw = connection.connection
    created = datetime.now(UTC)
    for first in range(0, people, CHUNK_PEOPLE):
        count = min(CHUNK_PEOPLE, people - first)
        batch = Person.objects.bulk_create(
            [
                Person(display_name=f"synthetic {first + i}", created_at=created)
                for i in range(count)
            ],
            batch_size=5000,
        )
        ids = np.repeat(np.array([p.pk for p in batch], dtype=np.int32), per_person)
        samples = centres[first : first + count, None, :] + rng.normal(
            0, noise_sd, size=(count, per_person, DIMENSIONS)
        )
        protected = protect(samples.reshape(-1, DIMENSIONS), key)
        data = _copy_binary_vectors(ids, protected)
        with (
            raw.cursor() as cursor,
            cursor.copy("COPY bench_staging FROM STDIN WITH (FORMAT binary)") as copy,
        ):
            for offset in range(0, len(data), 1 << 20):
                copy.write(data[offset : offset + (1 << 20)])
        print(f"  loaded {first + count:,} people", file=sys.stderr, flush=True)
    copied = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {FaceTemplate._meta.db_table}
                (person_id, embedding, key_version, model_name, model_version, quality, face_px,
                 created_at)
            SELECT person_id, embedding, %s, %s, '1', 1.0, 200, %s FROM bench_staging
            """,  # noqa: S608
            [key_version, BENCH_MODEL, created],
        )
        cursor.execute("DROP TABLE bench_staging")
        cursor.execute(f"VACUUM ANALYZE {FaceTemplate._meta.db_table}")
    return {
        "people": people,
        "templates": people * per_person,
        "load_s": round(time.perf_counter() - started, 1),
        "copy_s": round(copied - started, 1),
    }


INDEX_NAME = "template_embedding_hnsw"
# The checks' index: only templates flagged opted_out (migration 0006).
OPTOUT_INDEX_NAME = "template_optout_hnsw"


def build_index(
    *, m: int, ef_construction: int, workers: int, memory: str, name: str = INDEX_NAME
) -> float:
    predicate = " WHERE opted_out" if name == OPTOUT_INDEX_NAME else ""
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(f"DROP INDEX IF EXISTS {name}")
        cursor.execute(f"SET maintenance_work_mem = '{memory}'")
        cursor.execute(f"SET max_parallel_maintenance_workers = {int(workers)}")
        cursor.execute(
            f"CREATE INDEX {name} ON {FaceTemplate._meta.db_table} "
            f"USING hnsw (embedding vector_l2_ops) WITH (m = {int(m)}, "
            f"ef_construction = {int(ef_construction)}){predicate}"
        )
        cursor.execute("RESET maintenance_work_mem")
        cursor.execute("RESET max_parallel_maintenance_workers")
    return time.perf_counter() - started


def flag_opted_out(person_filter: str) -> bool:
    """Set ``opted_out`` on the templates of the people ``person_filter`` (SQL on person_id)
    selects, as templates_optout_sync would; returns whether anything had to change.

    Changing flags rewrites rows, which would insert them again into an existing HNSW index, so
    both indexes are dropped first (the caller rebuilds them).
    """
    table = FaceTemplate._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FROM {table} WHERE opted_out IS DISTINCT FROM ({person_filter})"  # noqa: S608
        )
        if cursor.fetchone()[0] == 0:
            return False
        cursor.execute(f"DROP INDEX IF EXISTS {INDEX_NAME}")
        cursor.execute(f"DROP INDEX IF EXISTS {OPTOUT_INDEX_NAME}")
        cursor.execute(f"UPDATE {table} SET opted_out = ({person_filter})")  # noqa: S608
        cursor.execute(f"VACUUM ANALYZE {table}")
    return True


def make_queries(seed: int, people: int, count: int, noise_sd: np.ndarray = SAMPLE_SD):
    """Fresh photos of enrolled people (4 in 5) and strangers (1 in 5), raw engine space, with
    the position of the person each query was drawn around (meaningless for strangers)."""
    rng = np.random.default_rng(seed + 2)
    centres = person_centres(seed, people)
    chosen = rng.choice(people, size=count, replace=False)
    queries = centres[chosen] + rng.normal(0, noise_sd, size=(count, DIMENSIONS))
    strangers = rng.random(count) < 0.2
    queries[strangers] = rng.normal(0, CENTRE_SD, size=(int(strangers.sum()), DIMENSIONS))
    return queries, strangers, chosen


def timed(
    function, queries: np.ndarray, people: list | None = None, **kwargs
) -> tuple[list[list[int]], list[float]]:
    """Run every query; returns the template ids found per query and the seconds each took.

    ``people``, when given, receives the person ids found per query.
    """
    results, seconds = [], []
    for query in queries:
        started = time.perf_counter()
        hits = function(embedding=query, **kwargs)
        seconds.append(time.perf_counter() - started)
        results.append([hit.template_id for hit in hits])
        if people is not None:
            people.append([hit.person_id for hit in hits])
    return results, seconds


def recall(found: list[list[int]], truth: list[list[int]], k: int, only=None) -> float:
    pairs = [
        (f, t)
        for i, (f, t) in enumerate(zip(found, truth, strict=False))
        if only is None or only[i]
    ]
    total = sum(len(set(f[:k]) & set(t[:k])) for f, t in pairs)
    return round(total / max(1, sum(min(k, len(t)) for _f, t in pairs)), 4)


def naive_search(queries: np.ndarray, key: bytes, repeat: int) -> dict[str, float]:
    """What a first version might do: load every template, compare in numpy, per query."""
    seconds = []
    for query in queries[:repeat]:
        started = time.perf_counter()
        rows = list(FaceTemplate.objects.values_list("id", "embedding"))
        matrix = np.stack([row[1] for row in rows])
        distances = np.linalg.norm(matrix - protect(query, key), axis=1)
        _best = rows[int(np.argmin(distances))][0]
        seconds.append(time.perf_counter() - started)
    return summary_ms(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--templates", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--exact-queries", type=int, default=100)
    parser.add_argument("--naive-queries", type=int, default=3)
    parser.add_argument("--m", type=int, default=32)
    parser.add_argument("--ef-construction", type=int, default=64)
    parser.add_argument(
        "--optout-m", type=int, help="m of the opted-out templates' index (default: --m)"
    )
    parser.add_argument(
        "--optout-ef-construction",
        type=int,
        help="ef_construction of the opted-out templates' index (default: --ef-construction)",
    )
    parser.add_argument(
        "--only-optout-index",
        action="store_true",
        help="build and measure only the checks' index of opted-out templates (no unfiltered "
        "search, no index of every template)",
    )
    parser.add_argument("--ef-search", default="40,64,100")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--maintenance-work-mem", default="4GB")
    parser.add_argument("--rebuild", action="store_true", help="reload the templates")
    parser.add_argument("--reindex", action="store_true", help="rebuild the index only")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--database", default=BENCH_DATABASE)
    parser.add_argument(
        "--candidate-pools",
        default=str(selectors.CANDIDATE_POOL),
        help="pool sizes for the filtered search, comma-separated (default: the checks' own)",
    )
    parser.add_argument(
        "--optout-pools",
        default=f"20,{selectors.OPTOUT_POOL},64",
        help="pool sizes (= ef_search) for the checks' search of the opted-out templates' index",
    )
    parser.add_argument(
        "--warm-queries",
        type=int,
        default=1000,
        help="queries run first, untimed, so the index is in memory as on a running server",
    )
    parser.add_argument(
        "--isotropic-noise",
        action="store_true",
        help="spread each person's photos over all 128 dimensions (harder, less face-like)",
    )
    args = parser.parse_args()
    noise_sd = ISOTROPIC_SAMPLE_SD if args.isotropic_noise else SAMPLE_SD

    use_bench_database(args.database)
    from registry.selectors import current_template_key_version, template_key

    version = current_template_key_version()
    key = template_key(version)
    report: dict = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count()},
        "database": args.database,
    }
    with connection.cursor() as cursor:
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        report["pgvector"] = cursor.fetchone()[0]
    stored = FaceTemplate.objects.count()
    # Searches compare only the active model's templates: a database loaded under another name
    # (before searches filtered on the model, "synthetic") is reloaded.
    other_model = FaceTemplate.objects.exclude(model_name=BENCH_MODEL).exists()
    if args.rebuild or stored != args.templates or other_model:
        print(f"loading {args.templates:,} templates ...", file=sys.stderr, flush=True)
        report["load"] = load_templates(
            args.templates, seed=args.seed, key_version=version, key=key, noise_sd=noise_sd
        )
        args.reindex = True
    # A third of the people (by id) have opted out: their templates are in the checks' index.
    if flag_opted_out("person_id % 3 = 0"):
        args.reindex = True
    optout_m = args.optout_m or args.m
    optout_ef_construction = args.optout_ef_construction or args.ef_construction
    # With --only-optout-index the index of every template is left as it is, and not measured.
    indexes = (
        [] if args.only_optout_index else [(INDEX_NAME, "index", args.m, args.ef_construction)]
    )
    indexes.append((OPTOUT_INDEX_NAME, "optout_index", optout_m, optout_ef_construction))
    for name, label, m, ef_construction in indexes:
        wanted = f"m='{m}', ef_construction='{ef_construction}'"
        with connection.cursor() as cursor:
            cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", [name])
            existing = cursor.fetchone()
        if args.reindex or existing is None or wanted not in existing[0]:
            print(f"building {name} ...", file=sys.stderr, flush=True)
            build_s = build_index(
                m=m,
                ef_construction=ef_construction,
                workers=args.workers,
                memory=args.maintenance_work_mem,
                name=name,
            )
            report[f"{label}_build_s"] = round(build_s, 1)
            print(f"  built in {build_s:.1f} s", file=sys.stderr, flush=True)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_size_pretty(pg_relation_size(%s))", [name])
            report[f"{label}_size"] = cursor.fetchone()[0]
            cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", [name])
            report[label] = cursor.fetchone()[0]
    templates = FaceTemplate.objects.count()
    people = templates // TEMPLATES_PER_PERSON
    report["templates"] = templates
    selectors.template_key_versions_forget()

    queries, strangers, chosen = make_queries(args.seed, people, args.queries, noise_sd)
    # Photos of people who opted out (a third, by id): a check must find exactly them.
    by_position = np.array(Person.objects.order_by("id").values_list("id", flat=True))
    optout_photos = ~strangers & (by_position[chosen] % 3 == 0)
    # The check's query: only people with an opt-out (a third, by id) within the review band.
    candidates = Person.objects.annotate(bucket=F("id") % 3).filter(bucket=0).values("id")
    # Warm the cache the way a running server is warm (index pages and the key-version list):
    # other fresh queries, so that the timed ones do not find their own paths already cached.
    warm, _, _ = make_queries(args.seed + 7, people, args.warm_queries, noise_sd)
    if args.only_optout_index:
        timed(
            selectors.faces_nearest,
            warm,
            limit=10,
            person_ids=candidates,
            max_distance=REVIEW_BAND,
            opted_out_only=True,
        )
    else:
        timed(selectors.faces_nearest, warm, limit=10, ef_search=100)
    exact_queries = queries[: args.exact_queries]
    report["hnsw"] = {}
    if not args.only_optout_index:
        print("exact search ...", file=sys.stderr, flush=True)
        truth_people: list[list[int]] = []
        truth, exact_seconds = timed(
            selectors.faces_nearest, exact_queries, truth_people, limit=10, exact=True
        )
        report["exact"] = summary_ms(exact_seconds)
        for ef in [int(v) for v in args.ef_search.split(",")]:
            found_people: list[list[int]] = []
            found, seconds = timed(
                selectors.faces_nearest, queries, found_people, limit=10, ef_search=ef
            )
            report["hnsw"][str(ef)] = {
                **summary_ms(seconds),
                "recall_at_1": recall(found, truth, 1),
                # The decision is per person: is the nearest person the exact search's?
                "recall_at_1_person": recall(found_people, truth_people, 1),
                "recall_at_10": recall(found, truth, 10),
                "recall_at_1_enrolled": recall(found, truth, 1, ~strangers),
                "recall_at_1_strangers": recall(found, truth, 1, strangers),
            }
            print(f"  ef_search={ef}: {report['hnsw'][str(ef)]}", file=sys.stderr, flush=True)

    # The check's query for each candidate pool size asked for (the first is the checks' own).
    print("filtered search ...", file=sys.stderr, flush=True)
    filtered_truth, filtered_exact_s = timed(
        selectors.faces_nearest,
        exact_queries,
        limit=10,
        person_ids=candidates,
        max_distance=REVIEW_BAND,
        exact=True,
    )

    def filtered_by_pool(pools: str, *, opted_out_only: bool) -> dict[str, dict]:
        """The filtered search for each pool size, against the exact filtered search."""
        results = {}
        for pool in [int(v) for v in pools.split(",")]:
            found, seconds = timed(
                selectors.faces_nearest,
                queries,
                limit=10,
                person_ids=candidates,
                max_distance=REVIEW_BAND,
                candidate_pool=pool,
                # On the opted-out index the pool doubles as ef_search, as in the checks.
                ef_search=pool if opted_out_only else None,
                opted_out_only=opted_out_only,
            )
            results[str(pool)] = {
                **summary_ms(seconds),
                "recall_at_1": recall(found, filtered_truth, 1),
                "recall_at_1_enrolled": recall(found, filtered_truth, 1, ~strangers),
                "recall_at_1_optout_photos": recall(found, filtered_truth, 1, optout_photos),
            }
            where = "opted-out index" if opted_out_only else "index of every template"
            print(f"  {where}, pool={pool}: {results[str(pool)]}", file=sys.stderr, flush=True)
        return results

    if not args.only_optout_index:
        report["hnsw_filtered_by_pool"] = filtered_by_pool(
            args.candidate_pools, opted_out_only=False
        )
    report["hnsw_filtered"] = {
        **report.get("hnsw_filtered_by_pool", {}).get(args.candidate_pools.split(",")[0], {}),
        "exact": summary_ms(filtered_exact_s),
    }
    # The checks' search as deployed: the opted-out templates' own index (the candidates here
    # are exactly the flagged people).
    report["optout_index_by_pool"] = filtered_by_pool(args.optout_pools, opted_out_only=True)
    if args.naive_queries:
        print("naive search ...", file=sys.stderr, flush=True)
        report["naive_numpy"] = naive_search(queries, key, args.naive_queries)
    report["queries"] = {
        "total": len(queries),
        "strangers": int(strangers.sum()),
        "optout_photos": int(optout_photos.sum()),
    }
    report["data"] = {
        "spectrum_decay": SPECTRUM_DECAY,
        "photo_noise": "isotropic" if args.isotropic_noise else "face-like spectrum",
        "templates_per_person": TEMPLATES_PER_PERSON,
    }
    report["settings"] = {
        "m": args.m,
        "ef_construction": args.ef_construction,
        "optout_m": optout_m,
        "optout_ef_construction": optout_ef_construction,
        "default_ef_search": selectors.EF_SEARCH,
        "candidate_pool": selectors.CANDIDATE_POOL,
        "optout_pool": selectors.OPTOUT_POOL,
    }
    print(json.dumps(report, indent=2))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
