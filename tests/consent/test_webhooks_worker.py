"""A real Celery worker retries a failing webhook delivery with backoff until it succeeds."""

from __future__ import annotations

import os
import time
import uuid
from itertools import pairwise
from pathlib import Path

import pytest
from django.db import connection

from consent import services
from consent.models import WebhookDelivery
from tests.consent.records_factories import make_org, make_person
from tests.consent.test_webhooks import Receiver
from tests.support import (
    celery_client,
    database_url_for_subprocess,
    redis_answers,
    start_celery_worker,
    stop_process,
)

REPO = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_worker_retries_with_backoff_until_the_receiver_answers(settings):
    if not redis_answers(REDIS_URL):
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
        worker = start_celery_worker(
            queue=queue,
            env={
                "CELERY_BROKER_URL": REDIS_URL,
                "DATABASE_URL": database_url_for_subprocess(connection.settings_dict),
                "WEBHOOK_RETRY_BASE_SECONDS": "1",
                "WEBHOOKS_ALLOW_INSECURE_LOCALHOST": "true",
            },
        )
        try:
            celery_client(REDIS_URL).send_task(
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
            stop_process(worker)
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
