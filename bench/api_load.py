"""API load benchmark: the embedding-only check against 100,000 registered people.

    .venv/bin/python bench/api_load.py                       # seed if needed, then both runs
    .venv/bin/python bench/api_load.py --duration 30 --workers 4 --connections 16
    .venv/bin/python bench/api_load.py --rebuild --people 100000 --optout-fraction 0.5

Seeds its own database (``bench_api`` on the embedded server, never the development data):
100,000 people with 3 protected templates each (synthetic, face-like: see bench/search.py),
an active all-uses opt-out for ``--optout-fraction`` of them (placeholder log entries: the check
path never reads the log) with their templates flagged ``opted_out``, the two HNSW indexes the
migrations build (every template, and the opted-out templates the checks search; m=32,
ef_construction=64), and a platform organisation with a checks:write key.

Then, for each configuration, it starts gunicorn (``registry.wsgi``, sync workers) on a local
port against that database and drives ``POST /api/v1/checks`` with wrk for ``--duration``
seconds: a Lua script posts JSON bodies with one embedding each and ``Authorization: Bearer``;
``--match-fraction`` of them are fresh samples of opted-out people (answered ``blocked``,
which stores the check and its match), the rest strangers (``clear``, nothing stored).
Configurations:
- ``memory``: the code as deployed (``MATCHING_INDEX=memory``: the memory-mapped index of the
  opted-out templates, built by the benchmark before the run, persistent connections, rate
  limits on with counters in the UNLOGGED table, signed-not-logged receipts);
- ``pgvector``: the same with the search through pgvector's HNSW index, the approach the
  memory index replaces (``MATCHING_INDEX=pgvector``; "optimised" in earlier results);
- ``naive``: exact search on every request and a new database connection per request.
Every response is checked for status 200 by the Lua script (non-200s are counted).
Results go to stdout and ``bench/results/api_load.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent))

import search as search_bench
from django.db import connection

from registry.models import FaceTemplate, Person

BENCH_DATABASE = "bench_api"
RESULTS = search_bench.REPO_ROOT / "bench" / "results" / "api_load.json"
TEMPLATES_PER_PERSON = 3
LOG_INDEX_OFFSET = 10_000_000_000

LUA = r"""
local bodies = {}
local count = 0
local next_body = 0
local failures = 0
local key = "%(key)s"

init = function(args)
  for line in io.lines("%(bodies)s") do
    count = count + 1
    bodies[count] = line
  end
end

request = function()
  next_body = (next_body %% count) + 1
  return wrk.format("POST", "/api/v1/checks", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. key,
  }, bodies[next_body])
end

response = function(status, headers, body)
  if status ~= 200 then
    failures = failures + 1
    if failures < 3 then io.stderr:write("status " .. status .. ": " .. body .. "\n") end
  end
end
"""


def seed(people: int, optout_fraction: float, seed_value: int, m: int, ef: int) -> dict:
    from registry.selectors import current_template_key_version, template_key

    version = current_template_key_version()
    report = search_bench.load_templates(
        people * TEMPLATES_PER_PERSON,
        seed=seed_value,
        key_version=version,
        key=template_key(version),
        per_person=TEMPLATES_PER_PERSON,
    )
    every = max(1, round(1 / optout_fraction)) if optout_fraction > 0 else 0
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM consent_record WHERE record_id LIKE 'rec_bench_%%'")
        cursor.execute("DELETE FROM consent_logentry WHERE index >= %s", [LOG_INDEX_OFFSET])
        if every:
            cursor.execute(
                """
                WITH people AS (
                    SELECT id, row_number() OVER (ORDER BY id) - 1 AS position
                    FROM registry_person
                )
                INSERT INTO consent_logentry (index, leaf_hash, record, created_at)
                SELECT %s + id, sha256(id::text::bytea), '\\x7b7d'::bytea, now()
                FROM people WHERE position %% %s = 0
                """,
                [LOG_INDEX_OFFSET, every],
            )
            cursor.execute(
                """
                INSERT INTO consent_record (record_id, kind, person_id, subject, categories,
                    media_types, territory, purpose, project_ref, log_entry_id, created_at)
                SELECT 'rec_bench_' || p.id, 'optout', p.id, encode(l.leaf_hash, 'hex'),
                    '["all"]'::jsonb, '[]'::jsonb, '', '', '', l.id, now()
                FROM registry_person p JOIN consent_logentry l ON l.index = %s + p.id
                """,
                [LOG_INDEX_OFFSET],
            )
        cursor.execute("ANALYZE consent_record")
    report["optouts_s"] = round(time.perf_counter() - started, 1)
    report["index_build_s"] = index_templates(m, ef, rebuild=True)
    return report


# The people with an active opt-out: what templates_optout_sync flags.
OPTED_OUT = (
    "person_id IN (SELECT person_id FROM consent_record"
    " WHERE kind = 'optout' AND revoked_at IS NULL)"
)


def index_templates(m: int, ef: int, *, rebuild: bool) -> dict[str, float]:
    """Flag the opted-out people's templates and build the two HNSW indexes the migrations build
    (every template; the opted-out ones), where missing or stale; returns build times.

    A database seeded before the flag existed is brought up to date here rather than measured
    with an empty opted-out index."""
    changed = search_bench.flag_opted_out(OPTED_OUT)
    built = {}
    for name in (search_bench.INDEX_NAME, search_bench.OPTOUT_INDEX_NAME):
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_indexes WHERE indexname = %s", [name])
            exists = cursor.fetchone() is not None
        if rebuild or changed or not exists:
            print(f"building {name} ...", file=sys.stderr, flush=True)
            seconds = search_bench.build_index(
                m=m, ef_construction=ef, workers=2, memory="2GB", name=name
            )
            built[name] = round(seconds, 1)
    return built


def platform_key() -> str:
    from registry.models import Organisation
    from registry.services import api_key_create, organisation_create

    organisation = Organisation.objects.filter(slug="bench-platform").first()
    if organisation is None:
        organisation = organisation_create(name="Bench Platform", kind="platform", owner=None)
        organisation.slug = "bench-platform"
        organisation.save(update_fields=["slug"])
    _key, plaintext = api_key_create(
        organisation=organisation, name="load test", scopes=["checks:write"], created_by=None
    )
    return plaintext


def write_bodies(path: Path, people: int, count: int, match_fraction: float, seed_value: int):
    import numpy as np

    from consent.models import Record

    centres = search_bench.person_centres(seed_value, people)
    ids = list(Person.objects.order_by("id").values_list("id", flat=True))
    opted = set(Record.objects.filter(kind="optout").values_list("person_id", flat=True))
    positions = [i for i, pid in enumerate(ids) if pid in opted]
    rng = np.random.default_rng(seed_value + 7)
    lines, matches = [], 0
    for _ in range(count):
        if positions and rng.random() < match_fraction:
            vector = centres[rng.choice(positions)] + rng.normal(0, search_bench.SAMPLE_SD, 128)
            matches += 1
        else:
            vector = rng.normal(0, search_bench.CENTRE_SD, 128)
        body = {"category": "commercial", "embeddings": [[round(float(x), 6) for x in vector]]}
        lines.append(json.dumps(body, separators=(",", ":")))
    path.write_text("\n".join(lines) + "\n")
    return matches


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url() -> str:
    settings = connection.settings_dict
    host = quote(settings["HOST"], safe="")
    return f"postgresql://{settings['USER']}@{host}:{settings['PORT']}/{BENCH_DATABASE}"


def start_server(
    *, workers: int, threads: int, mode: str, port: int, log: Path
) -> subprocess.Popen:
    naive = mode == "naive"
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "DATABASE_CONN_MAX_AGE": "0" if naive else "600",
        "CHECKS_RATE_PER_KEY": "10000000/min",
        "CHECKS_RATE_PER_ORGANISATION": "10000000/min",
        "MATCHING_EXACT_SEARCH": "1" if naive else "0",
        "MATCHING_INDEX": "memory" if mode == "memory" else "pgvector",
        "LOG_LEVEL": "WARNING",
        "DJANGO_DEBUG": "false",
    }
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    process = subprocess.Popen(
        [
            gunicorn,
            "registry.wsgi:application",
            "--workers",
            str(workers),
            "--bind",
            f"127.0.0.1:{port}",
            "--worker-class",
            "gthread" if threads > 1 else "sync",
            "--threads",
            str(threads),
            "--keep-alive",
            "30",
            "--preload",
            "--log-level",
            "warning",
        ],
        cwd=search_bench.REPO_ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)
            return process
        except OSError:
            time.sleep(0.5)
    process.kill()
    raise RuntimeError(f"gunicorn did not start; see {log}")


def stop_server(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a live process so far (0 if it has gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    try:
        tasks = Path(f"/proc/{pid}/task").iterdir()
        return [int(c) for task in tasks for c in (task / "children").read_text().split()]
    except OSError:
        return []


def _database_backends() -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [BENCH_DATABASE],
        )
        return [row[0] for row in cursor.fetchall()]


class CpuMeter:
    """CPU used during a run by the web workers and by the database's connections.

    The workers are the gunicorn master's children; the database side is the server processes
    connected to ``bench_api`` (persistent connections: with a connection per request, as in the
    naive run, they come and go and are not counted). wrk's own CPU comes from the child rusage.
    """

    def __init__(self, server: subprocess.Popen) -> None:
        self.workers = _children(server.pid)
        self.backends = _database_backends()
        self.started = {pid: _cpu_seconds(pid) for pid in self.workers + self.backends}
        self.wrk_started = os.times().children_user + os.times().children_system
        connection.close()

    def per_request_ms(self, requests: int) -> dict[str, float]:
        spent = {pid: _cpu_seconds(pid) - start for pid, start in self.started.items()}
        wrk = os.times().children_user + os.times().children_system - self.wrk_started
        web = sum(spent[pid] for pid in self.workers)
        database = sum(spent[pid] for pid in self.backends)
        return {
            "web_ms": round(1000 * web / requests, 2),
            "database_ms": round(1000 * database / requests, 2),
            "wrk_ms": round(1000 * wrk / requests, 2),
        }


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return round(float(value) * _UNITS[unit], 3)


def run_wrk(port: int, script: Path, duration: int, connections: int, threads: int) -> dict:
    output = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{duration}s",
            "--timeout",
            "10s",
            "--latency",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    latency = dict(re.findall(r"^\s+(\d+%)\s+([\d.]+(?:us|ms|s))\s*$", output, re.MULTILINE))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: (.*)", output)
    return {
        "requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "requests": int(re.search(r"(\d+) requests in", output).group(1)),
        "p50_ms": _ms(latency["50%"]),
        "p90_ms": _ms(latency["90%"]),
        "p99_ms": _ms(latency["99%"]),
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": errors.group(1) if errors else None,
        "wrk_output": output,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--optout-fraction", type=float, default=0.5)
    parser.add_argument("--match-fraction", type=float, default=0.1)
    parser.add_argument("--duration", type=int, default=30)
    parser.add_argument("--naive-duration", type=int, default=15)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument(
        "--gunicorn-threads", type=int, default=1, help="threads per worker (gthread when > 1)"
    )
    # The index the migrations build (registry/migrations/0005_template_hnsw_m32.py).
    parser.add_argument("--m", type=int, default=32)
    parser.add_argument("--ef-construction", type=int, default=64)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument(
        "--modes",
        default="memory,pgvector",
        help="the checks' search in each run: memory (the index beside PostgreSQL, the default "
        "deployment) and/or pgvector (the HNSW index inside it, the approach it replaces)",
    )
    parser.add_argument("--seed-only", action="store_true", help="prepare the database and stop")
    parser.add_argument("--seed", type=int, default=77)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install -y wrk")

    search_bench.use_bench_database(BENCH_DATABASE)
    report: dict = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count()},
        "database": BENCH_DATABASE,
        "settings": vars(args),
    }
    if args.rebuild or Person.objects.count() != args.people:
        print(f"seeding {args.people:,} people ...", file=sys.stderr, flush=True)
        report["seed"] = seed(
            args.people, args.optout_fraction, args.seed, args.m, args.ef_construction
        )
    else:
        report["index_build_s"] = index_templates(args.m, args.ef_construction, rebuild=False)
    if args.seed_only:
        print(json.dumps(report.get("seed", {}), indent=2))
        return
    from consent.models import Record

    report["data"] = {
        "people": Person.objects.count(),
        "templates": FaceTemplate.objects.count(),
        "active_optouts": Record.objects.filter(kind="optout", revoked_at__isnull=True).count(),
    }
    key = platform_key()
    workdir = Path(tempfile.mkdtemp(prefix="api_load_"))
    bodies = workdir / "bodies.txt"
    report["data"]["bodies_that_match"] = write_bodies(
        bodies, report["data"]["people"], 1000, args.match_fraction, args.seed
    )
    script = workdir / "checks.lua"
    script.write_text(LUA % {"key": key, "bodies": bodies})
    connection.close()

    # The memory index the "memory" run's workers map (var/matching-index/bench_api).
    from matching import services

    print("building the memory index ...", file=sys.stderr, flush=True)
    build = services.search_index_build()
    report["memory_index_build"] = {
        "seconds": build.seconds,
        "templates": build.templates,
        "file_bytes": build.file_bytes,
    }
    connection.close()

    runs = [(mode, args.duration) for mode in args.modes.split(",")]
    if not args.skip_naive:
        runs.append(("naive", args.naive_duration))
    for name, duration in runs:
        naive = name == "naive"
        port = free_port()
        server = start_server(
            workers=args.workers,
            threads=args.gunicorn_threads,
            mode=name,
            port=port,
            log=workdir / f"{name}.log",
        )
        try:
            # Warm up: every worker loads its modules and opens its connection.
            run_wrk(port, script, 3, args.connections, args.threads)
            print(f"{name}: {duration} s of load ...", file=sys.stderr, flush=True)
            load_before = os.getloadavg()
            meter = CpuMeter(server)
            result = run_wrk(port, script, duration, args.connections, args.threads)
            result["cpu_per_request"] = meter.per_request_ms(result["requests"])
            if naive:
                result["cpu_per_request"].pop("database_ms")
            result["load_average"] = {
                "before": [round(x, 2) for x in load_before],
                "after": [round(x, 2) for x in os.getloadavg()],
            }
        finally:
            stop_server(server)
        print(result.pop("wrk_output"), file=sys.stderr)
        report[name] = result
        print(f"  {name}: {json.dumps(result)}", file=sys.stderr, flush=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM matching_check")
        report["checks_stored_total"] = cursor.fetchone()[0]
    print(json.dumps(report, indent=2))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
