"""Checks are limited per key and per organisation, answered 429 with Retry-After."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.cache import caches

from matching.models import RateCounter
from matching.ratelimit import Rate
from tests.matching.checks_fixtures import Platform

pytestmark = pytest.mark.django_db

EMBEDDING = [[0.05] * 128]


@pytest.fixture
def platform(db) -> Platform:
    return Platform("Clip Share")


def statuses(platform: Platform, count: int) -> list[int]:
    return [platform.check_embeddings(EMBEDDING).status_code for _ in range(count)]


def test_a_key_over_its_limit_gets_429_with_retry_after(platform, settings):
    settings.CHECKS_RATE_PER_KEY = "3/min"
    settings.CHECKS_RATE_PER_ORGANISATION = "off"
    assert statuses(platform, 3) == [200, 200, 200]
    response = platform.check_embeddings(EMBEDDING)
    assert response.status_code == 429
    body = response.json()
    assert body["error"]["code"] == "rate_limited"
    retry_after = int(response["Retry-After"])
    assert 1 <= retry_after <= 60
    assert body["error"]["detail"] == {"retry_after_seconds": retry_after}


def test_the_limit_is_per_key_and_per_organisation(platform, settings):
    from registry.services import api_key_create

    settings.CHECKS_RATE_PER_KEY = "2/min"
    settings.CHECKS_RATE_PER_ORGANISATION = "3/min"
    other = Platform("Other Tube")
    assert statuses(platform, 3) == [200, 200, 429]
    # A second key of the same organisation has its own key budget, but the organisation's
    # budget (3) is shared: two were spent (the 429 counts as an attempt too).
    _key, secret = api_key_create(
        organisation=platform.organisation, name="second", scopes=["checks:write"], created_by=None
    )
    platform.secret = secret
    assert statuses(platform, 1) == [429]
    # Another organisation is not affected.
    assert statuses(other, 2) == [200, 200]


def test_limits_are_configurable_and_refuse_nonsense():
    assert Rate.parse("600/min", name="X") == Rate(600, 60)
    assert Rate.parse("10/sec", name="X") == Rate(10, 1)
    assert Rate.parse("5000/hour", name="X") == Rate(5000, 3600)
    assert Rate.parse("off", name="X") is None
    for bad in ("600", "ten/min", "5/fortnight", "-1/min"):
        with pytest.raises(ValueError, match="X"):
            Rate.parse(bad, name="X")


def test_limits_come_from_the_environment():
    env = {**os.environ, "CHECKS_RATE_PER_KEY": "1/min", "CHECKS_RATE_PER_ORGANISATION": "off"}
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-v", "0", "-c",
         "from django.conf import settings as s; "
         "print(s.CHECKS_RATE_PER_KEY, s.CHECKS_RATE_PER_ORGANISATION)"],
        cwd=Path(__file__).resolve().parents[2], env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert result.stdout.split() == ["1/min", "off"], result.stderr


def test_a_one_per_minute_limit_answers_the_second_request_with_429(platform, settings):
    settings.CHECKS_RATE_PER_KEY = "1/min"
    settings.CHECKS_RATE_PER_ORGANISATION = "off"
    assert statuses(platform, 2) == [200, 429]


def test_database_counters_are_one_row_per_bucket_and_window(platform, settings):
    settings.CHECKS_RATE_PER_KEY = "100/min"
    settings.CHECKS_RATE_PER_ORGANISATION = "100/min"
    statuses(platform, 5)
    rows = sorted(RateCounter.objects.values_list("bucket", "count"))
    assert [count for _bucket, count in rows] == [5, 5]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def redis_cache(settings, tmp_path):
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed")
    port = _free_port()
    process = subprocess.Popen(
        [server, "--port", str(port), "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )
    try:
        for _ in range(50):
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": f"redis://127.0.0.1:{port}/0",
            }
        }
        yield
    finally:
        caches["default"].close()
        process.terminate()
        process.wait(timeout=10)


def test_with_a_redis_cache_the_counters_live_there(platform, settings, redis_cache):
    settings.CHECKS_RATE_PER_KEY = "2/min"
    settings.CHECKS_RATE_PER_ORGANISATION = "off"
    assert statuses(platform, 3) == [200, 200, 429]
    assert not RateCounter.objects.exists()
