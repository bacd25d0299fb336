"""A real Celery worker retries a failing webhook delivery with backoff until it succeeds."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from itertools import pairwise
from pathlib import Path

import pytest
from celery import Celery
from django.db import connection

from consent import services
from consent.models import WebhookDelivery
from tests.consent.records_factories import make_org, make_person
from tests.consent.test_race_revocation import database_url
from tests.consent.test_webhooks import Receiver

REPO = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _redis_answers() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_worker_retries_with_backoff_until_the_receiver_answers(settings):
    if not _redis_answers():
        pytest.skip(f"no Redis answers at {REDIS_URL}; the worker test needs one")
    settings.WEBHOOKS_ALLOW_INSECURE_LOCALHOST = True
    receiver = Receiver()
    receiver.statuses = [500, 502, 503]
    try:
        studio = make_org("studio")
        endpoint, _ = services.webhook_endpoint_create(organisation=studio, url=receiver.url)
        grant = services.grant_record(
            person=make_person(),
            organisation=studio,
            purpose="x",
            categories=["commercial"],
            media_types=["image"],
            territory="worldwide",
        )
        # No broker in the test process: the first attempt runs eagerly here, and fails.
        services.record_revoke(record=grant)
        delivery = WebhookDelivery.objects.get(endpoint=endpoint)
        assert delivery.attempts == 1 and delivery.status == "pending"

        queue = f"test-{uuid.uuid4().hex[:8]}"
        env = dict(
            os.environ,
            CELERY_BROKER_URL=REDIS_URL,
            DATABASE_URL=database_url(connection.settings_dict),
            WEBHOOK_RETRY_BASE_SECONDS="1",
        )
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
        try:
            Celery(broker=REDIS_URL).send_task(
                "consent.webhook_deliver", args=[delivery.delivery_id], queue=queue
            )
            deadline = time.monotonic() + 120
            while True:
                delivery.refresh_from_db()
                if delivery.status != "pending" or time.monotonic() > deadline:
                    break
                if worker.poll() is not None:
                    pytest.fail("worker died:\n" + worker.stdout.read().decode()[-3000:])
                time.sleep(0.3)
        finally:
            os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
        assert delivery.status == "succeeded", (delivery.attempts, delivery.last_status_code)
        # 500 here, then 502 and 503 from the worker, then 200 after Celery's retries.
        assert delivery.attempts == 4
        assert len(receiver.requests) == 4
        times = [request["at"] for request in receiver.requests]
        waits = [later - earlier for earlier, later in pairwise(times[1:])]
        # Backoff: 2 s after the second failure, 4 s after the third (base 1 s, doubling).
        assert waits[0] >= 1.8 and waits[1] >= 3.8, waits
    finally:
        receiver.close()
