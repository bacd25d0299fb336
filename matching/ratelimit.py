"""Per-key and per-organisation rate limits for checks: fixed windows, one round trip.

Limits are ``"<count>/<sec|min|hour>"`` strings from the settings ``CHECKS_RATE_PER_KEY`` and
``CHECKS_RATE_PER_ORGANISATION`` (environment variables of the same name, validated at start-up);
``"0"`` or ``"off"`` turns a limit off.

Counters live where every web worker sees them:
- with ``CACHE_URL`` (Redis), in the cache: an atomic ``INCR`` per limit, pipelined;
- otherwise in PostgreSQL: one ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` for both
  limits, on an UNLOGGED table (no WAL flush per request). An in-process cache would give each
  worker its own budget, so it is never used for this.
Going over a limit is answered 429 with ``Retry-After`` (the seconds until the window ends).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from rest_framework.exceptions import Throttled

from matching.models import RateCounter

DEFAULT_PER_KEY = "600/min"
DEFAULT_PER_ORGANISATION = "3000/min"
_UNITS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600,
          "hour": 3600}  # fmt: skip
# Old windows are swept now and then by the request that happens to draw this chance.
_SWEEP_CHANCE = 0.001


@dataclass(frozen=True, slots=True)
class Rate:
    count: int
    seconds: int

    @classmethod
    def parse(cls, value: str, *, name: str) -> Rate | None:
        text = (value or "").strip().lower()
        if text in ("", "0", "off", "none"):
            return None
        number, _, unit = text.partition("/")
        if not number.isdigit() or unit not in _UNITS or int(number) <= 0:
            raise ValueError(
                f"{name} must look like '600/min' (per sec, min or hour), not {value!r}"
            )
        return cls(count=int(number), seconds=_UNITS[unit])

    def describe(self) -> str:
        unit = {1: "second", 60: "minute", 3600: "hour"}[self.seconds]
        return f"{self.count} checks per {unit}"


def _configured(name: str, default: str) -> Rate | None:
    return Rate.parse(str(getattr(settings, name, default)), name=name)


def limits_for(*, key_id: int | None, organisation_id: int | None) -> list[tuple[str, Rate]]:
    limits = []
    per_key = _configured("CHECKS_RATE_PER_KEY", DEFAULT_PER_KEY)
    if per_key is not None and key_id is not None:
        limits.append((f"checks:key:{key_id}", per_key))
    per_org = _configured("CHECKS_RATE_PER_ORGANISATION", DEFAULT_PER_ORGANISATION)
    if per_org is not None and organisation_id is not None:
        limits.append((f"checks:org:{organisation_id}", per_org))
    return limits


def rates_in_force() -> dict[str, Rate | None]:
    """The configured limits (None where a limit is off): each key's, and its organisation's."""
    return {
        "per_key": _configured("CHECKS_RATE_PER_KEY", DEFAULT_PER_KEY),
        "per_organisation": _configured("CHECKS_RATE_PER_ORGANISATION", DEFAULT_PER_ORGANISATION),
    }


def _uses_shared_cache() -> bool:
    backend = settings.CACHES.get("default", {}).get("BACKEND", "")
    # Not the in-process LocMemCache (each worker would count alone), nor the database cache.
    return backend.rsplit(".", 1)[-1] in {"RedisCache", "PyMemcacheCache", "PyLibMCCache"}


def check_rate(*, key_id: int | None, organisation_id: int | None) -> None:
    """Count this request against its limits; raise ``Throttled`` (429) when one is exceeded."""
    limits = limits_for(key_id=key_id, organisation_id=organisation_id)
    if not limits:
        return
    now = time.time()
    windows = [(bucket, rate, int(now // rate.seconds) * rate.seconds) for bucket, rate in limits]
    counts = _count_in_cache(windows) if _uses_shared_cache() else _count_in_database(windows)
    waits = [
        window + rate.seconds - now
        for (_bucket, rate, window), count in zip(windows, counts, strict=True)
        if count > rate.count
    ]
    if waits:
        raise Throttled(wait=max(1, int(max(waits) + 0.999)))


def _count_in_cache(windows: list[tuple[str, Rate, int]]) -> list[int]:
    counts = []
    for bucket, rate, window in windows:
        name = f"rl:{bucket}:{window}"
        # add() is a no-op when the key exists; incr() is atomic in Redis.
        cache.add(name, 0, timeout=rate.seconds + 5)
        try:
            counts.append(cache.incr(name))
        except ValueError:  # expired between add and incr
            cache.set(name, 1, timeout=rate.seconds + 5)
            counts.append(1)
    return counts


def _count_in_database(windows: list[tuple[str, Rate, int]]) -> list[int]:
    table = RateCounter._meta.db_table
    values = ", ".join(["(%s, %s, 1)"] * len(windows))
    params: list = []
    for bucket, _rate, window in windows:
        params += [bucket, window]
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {table} (bucket, window_start, count) VALUES {values}
            ON CONFLICT (bucket, window_start) DO UPDATE SET count = {table}.count + 1
            RETURNING bucket, count
            """,  # noqa: S608 - the table name is ours, values are parameters
            params,
        )
        counted = dict(cursor.fetchall())
        if random.random() < _SWEEP_CHANCE:
            cursor.execute(
                f"DELETE FROM {table} WHERE window_start < %s",  # noqa: S608
                [int(time.time()) - 2 * 3600],
            )
    return [counted[bucket] for bucket, _rate, _window in windows]
