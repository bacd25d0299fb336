"""A real Celery worker consumes tasks from the local Redis and reaches the database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
from celery import Celery

REPO = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _redis_answers() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def database_url_for_subprocess(settings_dict: dict) -> str:
    """A DATABASE_URL that points a child process at the test database."""
    host = quote(settings_dict["HOST"] or "", safe="")
    port = settings_dict["PORT"] or "5432"
    return f"postgresql://{settings_dict['USER']}@{host}:{port}/{settings_dict['NAME']}"


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_a_task_against_redis():
    if not _redis_answers():
        pytest.skip(f"no Redis answers at {REDIS_URL}; the worker test needs one")
    from django.db import connection

    env = dict(os.environ)
    env.update(
        CELERY_BROKER_URL=REDIS_URL,
        CELERY_RESULT_BACKEND=REDIS_URL,
        DATABASE_URL=database_url_for_subprocess(connection.settings_dict),
    )
    queue = f"test-{uuid.uuid4().hex[:8]}"
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "registry",
            "worker",
            "--pool=solo",
            "--loglevel=WARNING",
            "-Q",
            queue,
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    client = Celery(broker=REDIS_URL, backend=REDIS_URL)
    try:
        token = uuid.uuid4().hex
        result = client.send_task("registry.diagnostics_ping", args=[token], queue=queue)
        deadline = time.monotonic() + 90
        while not result.ready():
            if worker.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    "worker did not run the task:\n" + worker.stdout.read().decode()[-3000:]
                )
            time.sleep(0.2)
        assert result.get(timeout=5) == {
            "token": token,
            "database": connection.settings_dict["NAME"],
        }
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
