"""Consent facts for pages of lower apps: ``registry``'s /me/ page shows the requests waiting
for the person and whether they have decided anything, without importing consent (the template
loads these tags by name, so the apps' import layers stay one way)."""

from __future__ import annotations

from django import template

from consent import selectors
from consent.models import Record, RecordKind
from registry.models import Person

register = template.Library()


@register.simple_tag
def consent_requests_waiting(person: Person) -> list:
    """The consent requests waiting for the person's answer, oldest first."""
    return list(selectors.requests_waiting(person=person))


@register.simple_tag
def consent_has_decided(person: Person) -> bool:
    """Whether the person has an active opt-out or grant (the registry then speaks for them)."""
    return Record.objects.filter(
        person=person, kind__in=[RecordKind.OPTOUT, RecordKind.GRANT], revoked_at__isnull=True
    ).exists()
