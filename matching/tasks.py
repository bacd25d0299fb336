"""Celery tasks of the matching app: thin wrappers that take ids and call a service.

Each task imports ``matching.services`` inside its body: the services import this module at
load time to enqueue tasks.
"""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError

from consent.delivery import WEBHOOK_MAX_ATTEMPTS

#: Errors worth another attempt of the whole task: the database (or its connection) was away.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (OperationalError, InterfaceError)


@shared_task(
    bind=True,
    name="matching.tasks.video_check_run",
    acks_late=True,
    # A worker killed mid-video (OOM, deploy, SIGKILL) puts the message back on the queue; the
    # service restarts the job cleanly. Without this Celery would acknowledge it as failed.
    reject_on_worker_lost=True,
    # Only errors that a later attempt can get past: the database or broker briefly gone.
    # A bad video is not an error here (the check ends "failed" with the reason).
    autoretry_for=TRANSIENT_ERRORS,
    retry_backoff=5,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=5,
)
def video_check_run(self, check_id: str) -> str:
    from matching import services

    return services.video_check_execute(check_id=check_id)


@shared_task(
    bind=True,
    name="matching.tasks.check_callback_deliver",
    acks_late=True,
    # The first POST right after the check ends, then retries as consent.delivery's policy says.
    max_retries=WEBHOOK_MAX_ATTEMPTS - 1,
)
def check_callback_deliver(self, check_id: str) -> int | None:
    """One signed POST of a finished check to its callback URL; retried with backoff."""
    from matching import services

    retry_in = services.check_callback_attempt(check_id=check_id, attempt=self.request.retries)
    if retry_in is not None and not self.request.is_eager:
        raise self.retry(countdown=retry_in)
    return retry_in


@shared_task(name="matching.check_details_drop")
def check_details_drop() -> int:
    """Daily: checks past CHECK_DETAIL_RETENTION_DAYS drop their per-face detail."""
    from matching import services

    return services.check_details_drop()


@shared_task(name="matching.search_index_refresh")
def search_index_refresh() -> str:
    """Every minute: rebuild the checks' in-memory index when enough changed or it is old."""
    from matching import services

    return services.search_index_refresh()
