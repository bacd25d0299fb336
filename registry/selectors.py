"""Reads for the registry app."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection

from registry.db import vector_extension_installed, vector_extension_version


def system_health() -> dict[str, Any]:
    """What /healthz reports: each dependency with ``ok`` and a short, non-secret description."""
    checks = {
        "database": _database_health(),
        "pgvector": _pgvector_health(),
        "broker": _broker_health(),
        "face_model": _face_model_health(),
    }
    # pgvector is optional (an exact search replaces it), so it never makes the service unhealthy.
    healthy = all(check["ok"] for name, check in checks.items() if name != "pgvector")
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


def _broker_health() -> dict[str, Any]:
    if not settings.CELERY_BROKER_URL:
        return {"ok": True, "mode": "eager", "detail": "no broker configured; tasks run in-process"}
    from registry.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
            transport = conn.transport_cls
        return {"ok": True, "mode": "broker", "transport": str(transport)}
    except Exception as error:  # noqa: BLE001 - any broker failure is reported, not raised
        return {"ok": False, "mode": "broker", "error": error.__class__.__name__}


def _face_model_health() -> dict[str, Any]:
    try:
        from matching.engine import get_engine

        status = get_engine().status()
        return {"ok": bool(status.get("ok", True)), **status}
    except Exception as error:  # noqa: BLE001 - a broken model install is reported, not raised
        return {"ok": False, "error": f"{error.__class__.__name__}: {error}"}


# --- Template keys --------------------------------------------------------------------------


def current_template_key_version() -> int:
    """The template key new templates are protected with: the highest version configured."""
    return max(settings.TEMPLATE_KEYS)


def template_key(version: int) -> bytes:
    """The secret template key of ``version`` (KeyError when it is not configured)."""
    try:
        return settings.TEMPLATE_KEYS[int(version)]
    except KeyError:
        raise KeyError(f"template key version {version} is not configured") from None


def template_key_versions_in_use() -> list[int]:
    """The key versions of stored templates (search rotates the query once per version)."""
    from registry.models import FaceTemplate

    return sorted(FaceTemplate.objects.order_by().values_list("key_version", flat=True).distinct())


# --- People and organisations -----------------------------------------------------------------


def person_templates(*, person) -> list:
    from registry.models import FaceTemplate

    return list(
        FaceTemplate.objects.filter(person=person)
        .select_related("photo")
        .defer("embedding")
        .order_by("created_at", "pk")
    )


def person_attestations(*, person) -> list:
    return list(person.attestations.select_related("verifier").order_by("-attested_at"))


def organisations_for_user(*, user) -> list:
    from registry.models import Organisation

    return list(Organisation.objects.filter(memberships__user=user).order_by("name"))


def membership_role(*, organisation, user) -> str | None:
    from registry.models import Membership

    if user is None or not getattr(user, "pk", None):
        return None
    return (
        Membership.objects.filter(organisation=organisation, user=user)
        .values_list("role", flat=True)
        .first()
    )


def person_by_public_id(*, public_id: str):
    from registry.models import Person

    return Person.objects.filter(public_id=public_id).first()
