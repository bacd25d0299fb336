"""Celery tasks of the person-wide workflows: thin wrappers that call a service."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="lifecycle.retention_sweep")
def retention_sweep() -> dict[str, int]:
    """Periodic (see CELERY_BEAT_SCHEDULE): remind, then purge templates nobody confirmed."""
    from lifecycle import services

    return services.retention_sweep()
