"""Retention: face templates are biometric data, kept only while the person still wants them.

``retention_sweep`` (run every six hours by Celery beat, ``lifecycle.tasks``) emails a reminder
to people whose templates have not been confirmed for almost ``RETENTION_TEMPLATE_DAYS``, and
after the notice period deletes those templates and their kept photos, with an audit row.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone

from registry import services as registry_services
from registry.models import FaceTemplate, Person, ReferencePhoto

logger = logging.getLogger(__name__)


def retention_sweep(*, now: datetime | None = None) -> dict[str, int]:
    """Remind people whose templates are close to expiry, purge templates after the reminder.

    A person's templates expire ``RETENTION_TEMPLATE_DAYS`` after their last confirmation (or
    enrollment, or account creation). The reminder goes out ``RETENTION_REMINDER_DAYS`` before;
    templates are purged only once a reminder was sent for this period and that long has passed
    since it, so nobody loses their templates without warning.
    """
    now = now or timezone.now()
    period = timedelta(days=settings.RETENTION_TEMPLATE_DAYS)
    notice = timedelta(days=settings.RETENTION_REMINDER_DAYS)
    reminded = purged = 0
    candidates = (
        Person.objects.filter(templates__isnull=False)
        .annotate(reference=Coalesce("templates_confirmed_at", "created_at"))
        .filter(reference__lte=now - period + notice)
        .distinct()
        .select_related("user")
    )
    for person in candidates:
        expires = person.reference + period
        if person.retention_reminded_at is None or person.retention_reminded_at < person.reference:
            if person.user is not None:
                _send_retention_reminder(person, expires=max(expires, now + notice))
            Person.objects.filter(pk=person.pk).update(retention_reminded_at=now)
            reminded += 1
        elif now >= expires and now >= person.retention_reminded_at + notice:
            with transaction.atomic():
                ReferencePhoto.objects.filter(person=person).delete()
                FaceTemplate.objects.filter(person=person).delete()
            registry_services.audit_record(action="retention.purge", target=person)
            purged += 1
    logger.info("retention sweep reminded=%d purged=%d", reminded, purged)
    return {"reminded": reminded, "purged": purged}


def _send_retention_reminder(person: Person, *, expires: datetime) -> None:
    send_mail(
        subject="Confirm your face templates in the Likeness Registry",
        message=(
            "Your registered face templates will be deleted on "
            f"{expires.date().isoformat()} unless you confirm you still want them.\n\n"
            f"Confirm here: {settings.SITE_URL}{reverse('me')}\n"
        ),
        from_email=None,
        recipient_list=[person.user.email],
    )
