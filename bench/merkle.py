"""Transparency-log benchmark: inclusion proofs over a log of a million entries in PostgreSQL.

    .venv/bin/python bench/merkle.py                  # 1,000,000 entries, 1,000 proofs
    .venv/bin/python bench/merkle.py --entries 100000 --rebuild

Builds the log in its own database (``bench_consent_log`` on the configured server, so the
development log is never touched) with PostgreSQL COPY: records are real signed envelopes and
the complete Merkle nodes are computed in Python while streaming, exactly what ``log_append``
would have written, without a million service calls. An existing log of the requested size
is reused unless ``--rebuild`` is given.

Then, in the same run, it times
- inclusion proofs through ``consent.selectors.inclusion_proof`` (what the API calls): one
  query for the log size, one batched query for O(log n) complete nodes;
- the same proofs through the HTTP API (``/api/v1/log/inclusion-proof``, in-process client);
- consistency proofs between random sizes;
- the naive approach: load every leaf hash from the database and recompute the proof.
Every proof is checked against the signed tree head. Results are printed and saved to
``bench/results/merkle.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "registry.settings")

import django  # noqa: E402 (Django must be configured before the project imports below)

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection, connections  # noqa: E402
from django.test import Client  # noqa: E402
from psycopg import sql  # noqa: E402

from consent import selectors, services  # noqa: E402
from consent.lib import merkle, signing  # noqa: E402
from consent.lib.canonical import canonical_json  # noqa: E402
from consent.models import LogEntry, LogState, MerkleNode, SignedTreeHead  # noqa: E402

BENCH_DATABASE = "bench_consent_log"
CHUNK = 50_000


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
        "p99_ms": round(percentile(ms, 0.99), 3),
        "max_ms": round(max(ms), 3),
        "mean_ms": round(statistics.fmean(ms), 3),
    }


def build_log(entries: int) -> float:
    """Write ``entries`` signed records and their complete nodes with COPY; returns seconds."""
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE consent_logentry, consent_merklenode, consent_signedtreehead, "
            "consent_logstate"
        )
    key = services.signing_key_current()
    private_key = services._private_key(key)  # the bench signs as log_append would
    builder = merkle.TreeBuilder()
    now = datetime.now(UTC)
    raw = connection.connection
    with raw.transaction():
        for first in range(0, entries, CHUNK):
            rows, nodes = [], []
            for index in range(first, min(first + CHUNK, entries)):
                # Shaped like a real decision: a salted commitment, never a name.
                payload = {
                    "type": "opt_out",
                    "subject": hashlib.sha256(index.to_bytes(8, "big")).hexdigest(),
                    "scope": ["training", "likeness"],
                    "issued_at": now.isoformat(),
                    "sequence": index,
                }
                body = canonical_json(payload)
                envelope = {
                    "payload": payload,
                    "signatures": [
                        {"kid": key.kid, "sig": signing.b64encode(signing.sign(private_key, body))}
                    ],
                }
                record = canonical_json(envelope)
                leaf = merkle.leaf_hash(record)
                rows.append((index, leaf, record, now))
                nodes.extend(builder.push(leaf))
            with raw.cursor() as cursor:
                with cursor.copy(
                    "COPY consent_logentry (index, leaf_hash, record, created_at) "
                    "FROM STDIN (FORMAT BINARY)"
                ) as copy:
                    copy.set_types(["int8", "bytea", "bytea", "timestamptz"])
                    for row in rows:
                        copy.write_row(row)
                with cursor.copy(
                    'COPY consent_merklenode (level, "index", hash) FROM STDIN (FORMAT BINARY)'
                ) as copy:
                    copy.set_types(["int2", "int8", "bytea"])
                    for node in nodes:
                        copy.write_row(node)
            print(f"  built {min(first + CHUNK, entries):>9,} entries", flush=True)
        with raw.cursor() as cursor:
            cursor.execute(
                "INSERT INTO consent_logstate (id, tree_size) VALUES (1, %s) "
                "ON CONFLICT (id) DO UPDATE SET tree_size = EXCLUDED.tree_size",
                [entries],
            )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE consent_logentry")
        cursor.execute("ANALYZE consent_merklenode")
    head = services.tree_head_sign()
    # The head was computed from the stored nodes; it must equal the streamed root.
    assert bytes(head.root_hash) == builder.root(), "stored nodes disagree with the records"
    return time.perf_counter() - started


def time_inclusion(size: int, leaves: list[int], root: bytes) -> tuple[list[float], int]:
    timings, hashes = [], 0
    for index in leaves:
        started = time.perf_counter()
        proof = selectors.inclusion_proof(leaf_index=index, tree_size=size)
        timings.append(time.perf_counter() - started)
        assert proof.root == root
        proof.verify()
        hashes = max(hashes, len(proof.path))
    return timings, hashes


def time_api(size: int, leaves: list[int], root: bytes) -> list[float]:
    client = Client()
    for index in leaves[:20]:  # untimed: the first requests import the URL configuration
        client.get("/api/v1/log/inclusion-proof", {"leaf_index": index, "tree_size": size})
    timings = []
    for index in leaves:
        started = time.perf_counter()
        response = client.get(
            "/api/v1/log/inclusion-proof", {"leaf_index": index, "tree_size": size}
        )
        timings.append(time.perf_counter() - started)
        assert response.status_code == 200, response.content
        proof = merkle.InclusionProof.from_json(response.json())
        assert proof.root == root
        proof.verify()
    return timings


def time_consistency(size: int, firsts: list[int], root: bytes) -> list[float]:
    timings = []
    for size1 in firsts:
        started = time.perf_counter()
        proof = selectors.consistency_proof(size1=size1, size2=size)
        timings.append(time.perf_counter() - started)
        assert proof.root2 == root
        proof.verify()
    return timings


def time_naive(size: int, leaves: list[int], root: bytes) -> dict[str, object]:
    """The approach without complete nodes: every proof reads and rehashes the whole log."""
    totals, loads = [], []
    for index in leaves:
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT leaf_hash FROM consent_logentry WHERE index < %s ORDER BY index", [size]
            )
            hashes = [bytes(value) for (value,) in cursor.fetchall()]
        loaded = time.perf_counter()
        path = merkle.naive_inclusion_proof(hashes, index)
        totals.append(time.perf_counter() - started)
        loads.append(loaded - started)
        merkle.verify_inclusion(index, size, hashes[index], path, root)
    return {**summary_ms(totals), "load_median_ms": round(statistics.median(loads) * 1000, 1)}


def table_sizes() -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, pg_size_pretty(pg_total_relation_size(oid)) FROM pg_class "
            "WHERE relname IN ('consent_logentry', 'consent_merklenode') ORDER BY relname"
        )
        return dict(cursor.fetchall())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=1_000, help="proofs to time")
    parser.add_argument("--naive-samples", type=int, default=5)
    parser.add_argument("--rebuild", action="store_true", help="rebuild even if the log exists")
    parser.add_argument("--database", default=BENCH_DATABASE)
    parser.add_argument("--seed", type=int, default=6962)
    args = parser.parse_args()

    use_bench_database(args.database)
    size = args.entries
    existing = LogState.objects.filter(pk=1).values_list("tree_size", flat=True).first()
    build_seconds = None
    if args.rebuild or existing != size or not SignedTreeHead.objects.filter(tree_size=size):
        print(f"building a log of {size:,} entries in database {args.database!r}")
        build_seconds = build_log(size)
        print(f"  done in {build_seconds:.1f} s")
    else:
        print(f"reusing the log of {size:,} entries in database {args.database!r}")

    head = selectors.latest_tree_head()
    root = bytes(head.root_hash)
    load_before = os.getloadavg()[0]
    rng = random.Random(args.seed)
    leaves = [rng.randrange(size) for _ in range(args.samples)]
    firsts = [rng.randrange(1, size) for _ in range(args.samples)]

    # One untimed pass warms the connection, the plan cache and the OS page cache fairly for
    # every method (the naive method gets the same warm database).
    time_inclusion(size, leaves[:20], root)

    inclusion, path_length = time_inclusion(size, leaves, root)
    try:
        api: dict[str, object] = summary_ms(time_api(size, leaves, root))
    except Exception as error:  # noqa: BLE001
        # The HTTP pass imports the whole project's URLs; unrelated work in progress can break
        # that, and it must not cost the selector and naive figures.
        api = {"error": f"{type(error).__name__}: {error}"}
        print(f"HTTP API pass skipped: {api['error']}", file=sys.stderr)
    consistency = time_consistency(size, firsts, root)
    naive = time_naive(size, leaves[: args.naive_samples], root)

    results = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "entries": size,
        "merkle_nodes": MerkleNode.objects.count(),
        "log_entries": LogEntry.objects.count(),
        "table_sizes": table_sizes(),
        "build_seconds": round(build_seconds, 1) if build_seconds is not None else None,
        "proof_path_length": path_length,
        "inclusion_selector": summary_ms(inclusion),
        "inclusion_api": api,
        "consistency_selector": summary_ms(consistency),
        "inclusion_naive": naive,
        # Other work on the machine inflates the tail; the load says how quiet it was.
        "load_average_1m_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "cpus": os.cpu_count(),
        "postgres": connection.connection.info.server_version,
        "python": sys.version.split()[0],
    }
    results["speedup_median"] = round(
        results["inclusion_naive"]["median_ms"] / results["inclusion_selector"]["median_ms"]
    )
    print(json.dumps(results, indent=2))
    out = REPO_ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "merkle.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
