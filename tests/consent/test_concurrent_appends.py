"""Appends from several processes at once leave a gapless log that verifies."""

from __future__ import annotations

import subprocess
import sys
import time
from itertools import pairwise
from pathlib import Path

import pytest
from django.db import connection

from consent import selectors
from consent.audit import log_audit
from consent.lib.canonical import parse_json
from consent.models import LogEntry, SignedTreeHead

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKERS = 4
APPENDS_PER_WORKER = 25

# Each worker is a separate Python process with its own database connection, pointed at the
# test database, and starts appending at the same wall-clock moment as the others.
WORKER = """
import os, sys, time
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "registry.settings")
import django
django.setup()
from django.db import connections
connections["default"].settings_dict["NAME"] = sys.argv[1]
from consent.services import log_append
worker, count, start_at = int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
time.sleep(max(0.0, start_at - time.time()))
for n in range(count):
    log_append(payload={"type": "test_decision", "worker": worker, "n": n})
"""


@pytest.mark.django_db(transaction=True)
def test_concurrent_appends_from_several_processes_are_gapless_and_verifiable():
    database = connection.settings_dict["NAME"]
    # Django start-up takes a moment; starting later than that makes the workers overlap.
    start_at = time.time() + 8
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                WORKER,
                database,
                str(w),
                str(APPENDS_PER_WORKER),
                str(start_at),
            ],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(WORKERS)
    ]
    for worker in workers:
        _, stderr = worker.communicate(timeout=300)
        assert worker.returncode == 0, stderr

    total = WORKERS * APPENDS_PER_WORKER
    assert selectors.log_size() == total
    indexes = list(LogEntry.objects.order_by("index").values_list("index", flat=True))
    assert indexes == list(range(total))
    payloads = [
        parse_json(bytes(record))["payload"]
        for record in LogEntry.objects.order_by("index").values_list("record", flat=True)
    ]
    assert sorted((p["worker"], p["n"]) for p in payloads) == [
        (w, n) for w in range(WORKERS) for n in range(APPENDS_PER_WORKER)
    ]
    # Each worker's own appends keep their order...
    for w in range(WORKERS):
        assert [p["n"] for p in payloads if p["worker"] == w] == list(range(APPENDS_PER_WORKER))
    # ...and the workers really ran at the same time (one after another would switch 3 times).
    switches = sum(1 for a, b in pairwise(payloads) if a["worker"] != b["worker"])
    assert switches > WORKERS - 1
    assert SignedTreeHead.objects.count() == total
    assert log_audit().problems == []
