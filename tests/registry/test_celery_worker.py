"""A real Celery worker consumes tasks from the local Redis and reaches the database."""

from __future__ import annotations

import os
import time
import uuid

import pytest

from tests.support import (
    celery_client,
    database_url_for_subprocess,
    redis_answers,
    start_celery_worker,
    stop_process,
)

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_a_task_against_redis():
    if not redis_answers(REDIS_URL):
        pytest.skip(f"no Redis answers at {REDIS_URL}; the worker test needs one")
    from django.db import connection

    queue = f"test-{uuid.uuid4().hex[:8]}"
    worker = start_celery_worker(
        queue=queue,
        env={
            "CELERY_BROKER_URL": REDIS_URL,
            "CELERY_RESULT_BACKEND": REDIS_URL,
            "DATABASE_URL": database_url_for_subprocess(connection.settings_dict),
        },
    )
    client = celery_client(REDIS_URL, REDIS_URL)
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
        stop_process(worker)
