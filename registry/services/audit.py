"""The audit trail: one row per security-relevant action, with ids only (no names, emails or
biometrics)."""

from __future__ import annotations

from typing import Any

from registry.models import AuditEvent, User


def audit_record(
    *,
    action: str,
    actor: User | None = None,
    target: Any = None,
    metadata: dict[str, Any] | None = None,
) -> AuditEvent:
    """Record a security-relevant action. Ids only: never names, emails or biometrics."""
    actor = actor if isinstance(actor, User) else None
    return AuditEvent.objects.create(
        actor=actor,
        action=action,
        target_type=type(target).__name__.lower() if target is not None else "",
        target_id=str(getattr(target, "public_id", None) or getattr(target, "pk", "") or "")
        if target is not None
        else "",
        metadata=metadata or {},
    )
