"""Builders for the records, requests, checks and webhooks tests (people, organisations, keys).

People are at ``liveness`` and organisations verified unless a test asks otherwise: most of
these tests are about what a trusted grant or opt-out does; ``test_trust_decisions`` is about
the untrusted ones.
"""

from __future__ import annotations

import itertools

from django.utils import timezone

from registry.models import AssuranceLevel, Organisation, Person
from registry.services import api_key_create, organisation_create, person_create
from tests.trust import organisation_verified, person_assured

_sequence = itertools.count(1)


def make_person(
    *,
    handle: str | None = None,
    verified: bool = True,
    email: str | None = None,
    assurance: str = AssuranceLevel.LIVENESS,
):
    n = next(_sequence)
    person = person_create(
        email=email or f"person{n}@example.test",
        display_name=f"Person {n}",
        password="correct horse battery staple",
    )
    if handle:
        person.handle = handle
        person.save(update_fields=["handle"])
    if verified:
        person.user.email_verified_at = timezone.now()
        person.user.save(update_fields=["email_verified_at"])
    return person_assured(person, assurance)


def make_org(kind: str = "studio", name: str | None = None, verified: bool = True) -> Organisation:
    organisation = organisation_create(
        name=name or f"{kind} {next(_sequence)}", kind=kind, owner=None
    )
    return organisation_verified(organisation) if verified else organisation


def org_key(organisation: Organisation, *scopes: str) -> str:
    _, plaintext = api_key_create(
        organisation=organisation, name="test", scopes=scopes, created_by=None
    )
    return plaintext


def personal_token(person: Person, *scopes: str) -> str:
    _, plaintext = api_key_create(
        user=person.user,
        name="test",
        scopes=scopes or ("consent:read", "consent:write"),
        created_by=person.user,
    )
    return plaintext


def bearer(plaintext: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {plaintext}"}
