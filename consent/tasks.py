"""Celery tasks of the consent app: thin wrappers that take ids and call a service."""

from __future__ import annotations

from celery import shared_task

from consent.delivery import WEBHOOK_MAX_ATTEMPTS


@shared_task(bind=True, name="consent.webhook_deliver", max_retries=WEBHOOK_MAX_ATTEMPTS)
def webhook_deliver(self, delivery_id: str) -> None:
    """One attempt; on failure Celery retries with exponential backoff (``next_attempt_at``).

    Eagerly (no broker) a retry would block the request that emitted the event, so there the
    delivery just stays pending until ``webhook_deliveries_due`` or a manual redelivery.
    """
    from consent import services

    retry_in = services.webhook_attempt(delivery_id=delivery_id)
    if retry_in is not None and not self.request.is_eager:
        raise self.retry(countdown=retry_in)


@shared_task(name="consent.webhook_deliveries_due")
def webhook_deliveries_due() -> int:
    from consent import services

    return services.webhook_deliveries_due()


@shared_task(name="consent.grants_expired_notify")
def grants_expired_notify() -> int:
    from consent import services

    return services.grants_expired_notify()
