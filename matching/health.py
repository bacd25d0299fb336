"""What ``/healthz`` and ``manage.py health`` report: the database, pgvector, the broker, the model
and whether the registry is still within the size its face engine can serve.

Here, in the top app, because the report covers every layer (the face engine is matching's).
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection
from django.utils import timezone

from matching.engine import get_engine
from matching.services.decide import candidates_count
from matching.services.search_index import search_index_state
from registry.celery import app
from registry.db import vector_extension_installed, vector_extension_version

logger = logging.getLogger(__name__)


def system_health() -> dict[str, Any]:
    """What /healthz reports: each dependency with ``ok`` and a short, non-secret description."""
    checks = {
        "database": _database_health(),
        "pgvector": _pgvector_health(),
        "broker": _broker_health(),
        "face_model": _face_model_health(),
        "registry_capacity": registry_capacity_status(),
        "search_index": _search_index_health(),
    }
    # pgvector is optional (an exact search replaces it), so it never makes the service unhealthy;
    # a registry past its capacity still answers every check correctly for the people in it, but
    # blocks more strangers than the target: the operator is warned, the service stays up.
    # A stale or missing memory index never makes a check wrong (the changes since its build
    # are compared exactly), only slower: advisory too.
    advisory = {"pgvector", "registry_capacity", "search_index"}
    healthy = all(check["ok"] for name, check in checks.items() if name not in advisory)
    return {"status": "ok" if healthy else "degraded", "checks": checks}


def _database_health() -> dict[str, Any]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('server_version')")
            version = cursor.fetchone()[0]
        return {
            "ok": True,
            "engine": "postgresql",
            "version": version,
            "embedded": settings.EMBEDDED_DATABASE_DIR is not None,
        }
    except DatabaseError as error:
        return {"ok": False, "error": error.__class__.__name__}


def _pgvector_health() -> dict[str, Any]:
    try:
        if vector_extension_installed(connection):
            return {
                "ok": True,
                "available": True,
                "version": vector_extension_version(connection),
                "search": "pgvector-hnsw",
            }
        return {"ok": False, "available": False, "search": "exact"}
    except DatabaseError as error:
        return {"ok": False, "available": False, "error": error.__class__.__name__}


def _search_index_health() -> dict[str, Any]:
    """The checks' memory index: its build's age and size, and the changes searched exactly."""
    if settings.MATCHING_INDEX != "memory":
        return {"ok": True, "mode": settings.MATCHING_INDEX}
    try:
        state = search_index_state()
    except DatabaseError as error:
        return {"ok": False, "mode": "memory", "error": error.__class__.__name__}
    report: dict[str, Any] = {"mode": "memory", "rebuild_due": state.due}
    if state.build is None:
        return {**report, "ok": state.due is None, "built": False}
    age = (timezone.now() - state.build.built_at).total_seconds()
    return {
        **report,
        # Overdue by twice the schedule: the refresh task is not running.
        "ok": age < 2 * settings.MATCHING_INDEX_MAX_AGE_S + 600,
        "built": True,
        "age_s": round(age),
        "templates": state.build.templates,
        "changed_since": state.changed_since,
    }


def _broker_health() -> dict[str, Any]:
    if not settings.CELERY_BROKER_URL:
        return {"ok": True, "mode": "eager", "detail": "no broker configured; tasks run in-process"}
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
            transport = conn.transport_cls
        return {"ok": True, "mode": "broker", "transport": str(transport)}
    except Exception as error:  # noqa: BLE001 - any broker failure is reported, not raised
        return {"ok": False, "mode": "broker", "error": error.__class__.__name__}


def _face_model_health() -> dict[str, Any]:
    try:
        status = get_engine().status()
        return {"ok": bool(status.get("ok", True)), **status}
    except Exception as error:  # noqa: BLE001 - a broken model install is reported, not raised
        return {"ok": False, "error": f"{error.__class__.__name__}: {error}"}


def registry_capacity_status() -> dict[str, Any]:
    """The opted-out people a check searches against the engine's measured capacity.

    Past the capacity the verdict rule still keeps strangers' false blocks under its target, but
    only by raising the bar so far that fewer than 60% of the opted-out people's own photos are
    blocked (docs/accuracy.md, "Registry capacity"): a stronger model or more templates per
    person are the remedies.
    """
    try:
        engine = get_engine()
        searched = candidates_count(None)
    except Exception as error:  # noqa: BLE001 - the database or model check reports the cause
        return {"ok": False, "error": error.__class__.__name__}
    capacity = engine.registry_capacity
    report: dict[str, Any] = {"opted_out_people": searched, "capacity": capacity}
    if capacity is None:
        report.update(ok=True, detail="no capacity measured for this model")
    elif searched > capacity:
        report.update(
            ok=False,
            warning=(
                f"{searched} opted-out people exceed the {capacity} that {engine.name} serves "
                "within target: fewer than 60% of their own photos would be blocked"
            ),
        )
        logger.warning("registry past its capacity people=%d capacity=%d", searched, capacity)
    else:
        report.update(ok=True, used=round(searched / capacity, 4))
    return report
