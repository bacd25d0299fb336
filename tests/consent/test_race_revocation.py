"""Revocations and consent checks racing from several OS processes.

Acceptance: after a revocation is acknowledged, no check reports the grant as valid. Checks
and revocations run in separate Python processes, each with its own database connection to
the test database, all starting together once every process is up. Revocations begin once
checks are in full flow, and checks go on until every revocation is acknowledged and a few
times more, whatever the machine's load. Every process writes what it did, with wall-clock
times (one host, one clock), as JSON lines.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from consent import services
from consent.audit import log_audit
from consent.models import ConsentCheck, Record
from tests.consent.records_factories import make_org, make_person
from tests.support import database_url_for_subprocess

REPO_ROOT = Path(__file__).resolve().parents[2]
PEOPLE = 6
CHECKERS = 3
REVOKERS = 2

WORKER = r"""
import json, os, random, sys, time
from pathlib import Path
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "registry.settings")
import django
django.setup()
from consent import services
from consent.models import Record
from registry.models import Organisation, Person

role, number = sys.argv[1], int(sys.argv[2])
studio = Organisation.objects.get(slug=sys.argv[3])
people = list(Person.objects.filter(public_id__in=sys.argv[4].split(",")).order_by("pk"))
revokers, checkers, signals = int(sys.argv[5]), int(sys.argv[6]), Path(sys.argv[7])
print("ready", flush=True)
# Start-up takes seconds and varies: the parent says "go" once every process is ready.
sys.stdin.readline()


def all_exist(pattern, count):
    return len(list(signals.glob(pattern))) >= count


if role == "check":
    rng = random.Random(number)
    done, extra = 0, None
    # Check until every revocation is acknowledged, then 5 more times each.
    while extra is None or extra > 0:
        person = rng.choice(people)
        started = time.time()
        check, receipt = services.consent_check(
            organisation=studio, person=person, category="commercial", media_type="video"
        )
        print(json.dumps({
            "person": person.public_id, "started": started, "finished": time.time(),
            "result": check.result, "index": receipt["leaf_index"],
        }), flush=True)
        done += 1
        if done == 3:
            (signals / f"checker-{number}-warm").touch()
        if extra is None and all_exist("revoker-*-done", revokers):
            extra = 5
        elif extra is not None:
            extra -= 1
else:
    # Revoke only once checks are in full flow, spread out so checks interleave.
    while not all_exist("checker-*-warm", checkers):
        time.sleep(0.05)
    mine = [p for i, p in enumerate(people) if i % revokers == number]
    for person in mine:
        time.sleep(0.3 + 0.2 * number)
        grant = Record.objects.get(person=person, kind="grant", organisation=studio)
        started = time.time()
        revocation = services.record_revoke(record=grant)
        print(json.dumps({
            "person": person.public_id, "started": started, "acknowledged": time.time(),
            "index": revocation.log_entry.index,
        }), flush=True)
    (signals / f"revoker-{number}-done").touch()
"""


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_no_check_reports_a_grant_valid_after_its_revocation_is_acknowledged(tmp_path):
    studio = make_org("studio")
    people = [make_person() for _ in range(PEOPLE)]
    for person in people:
        services.grant_record(
            person=person,
            organisation=studio,
            purpose="Advert",
            categories=["commercial"],
            media_types=["video"],
            territory="worldwide",
        )
    ids = ",".join(person.public_id for person in people)
    env = dict(os.environ, DATABASE_URL=database_url_for_subprocess(connection.settings_dict))

    def spawn(role: str, number: int) -> subprocess.Popen:
        return subprocess.Popen(
            [
                sys.executable,
                "-c",
                WORKER,
                role,
                str(number),
                studio.slug,
                ids,
                str(REVOKERS),
                str(CHECKERS),
                str(tmp_path),
            ],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    checkers = [spawn("check", n) for n in range(CHECKERS)]
    revokers = [spawn("revoke", n) for n in range(REVOKERS)]
    for process in checkers + revokers:
        ready = process.stdout.readline()
        assert ready.strip() == "ready", process.stderr.read()[-3000:]
    for process in checkers + revokers:
        process.stdin.write("go\n")
        process.stdin.flush()
    checks, revocations = [], {}
    for process in checkers + revokers:
        stdout, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr[-3000:]
        lines = [json.loads(line) for line in stdout.splitlines() if line.strip()]
        if process in checkers:
            checks += lines
        else:
            revocations.update({line["person"]: line for line in lines})

    assert set(revocations) == {person.public_id for person in people}
    assert Record.objects.filter(kind="grant", revoked_at__isnull=True).count() == 0

    # The race really happened: checks ran before, during and after the revocations.
    first_ack = min(r["acknowledged"] for r in revocations.values())
    last_ack = max(r["acknowledged"] for r in revocations.values())
    assert any(c["finished"] < first_ack and c["result"] == "consented" for c in checks)
    assert any(c["started"] > last_ack for c in checks)
    assert len(checks) >= CHECKERS * 8

    after_ack = 0
    for check in checks:
        revocation = revocations[check["person"]]
        if check["started"] > revocation["acknowledged"]:
            after_ack += 1
            assert check["result"] == "revoked", check
        # Stronger, in log order: every "consented" receipt precedes the revocation in the log,
        # and every receipt after the revocation says "revoked".
        if check["result"] == "consented":
            assert check["index"] < revocation["index"], (check, revocation)
        else:
            assert check["index"] > revocation["index"], (check, revocation)
    assert after_ack >= CHECKERS * 5

    assert ConsentCheck.objects.count() == len(checks)
    assert log_audit().problems == []
