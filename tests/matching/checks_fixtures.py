"""Shared set-up for the checks tests: enrolled people, organisations with keys, API calls.

Enrollment goes through the registry's services and opt-outs through the consent services, as
in production; photos are the shared faces (../shared/faces). People are enrolled at
``liveness`` (their opt-outs block under the default policy) and organisations verified, unless a
test asks otherwise: ``test_assurance_verdicts`` is about the lower levels.
"""

from __future__ import annotations

import functools
from pathlib import Path

from django.test import Client

from consent.services import optout_record
from lifecycle.services import person_enroll
from matching import selectors
from registry.models import AssuranceLevel, Organisation, Person
from registry.services import api_key_create, organisation_create, person_create
from tests.trust import organisation_verified, person_assured

FACES = Path(__file__).resolve().parents[2].parent / "shared" / "faces"


@functools.cache
def photo_bytes(relative: str) -> bytes:
    return (FACES / relative).read_bytes()


def enroll(
    name: str,
    photos: list[str],
    *,
    optout: bool | list[str] = True,
    assurance: str = AssuranceLevel.LIVENESS,
) -> Person:
    person = person_create(email=f"{name}@example.test", display_name=name.replace("_", " "))
    person_assured(person, assurance)
    result = person_enroll(
        person=person, images=[(Path(p).name, photo_bytes(f"people/{p}")) for p in photos]
    )
    assert result.accepted, [o.reason for o in result.photos]
    if optout:
        optout_record(person=person, categories=None if optout is True else optout)
    selectors.template_key_versions_forget()
    return person


class Platform:
    """An organisation with a checks:write key, calling the API like a platform would."""

    def __init__(
        self, name: str, kind: str = "platform", scopes=("checks:write",), verified: bool = True
    ):
        self.organisation: Organisation = organisation_create(name=name, kind=kind, owner=None)
        if verified:
            organisation_verified(self.organisation)
        self.key, self.secret = api_key_create(
            organisation=self.organisation, name="ci", scopes=list(scopes), created_by=None
        )
        self.client = Client()

    @property
    def auth(self) -> dict[str, str]:
        return {"HTTP_AUTHORIZATION": f"Bearer {self.secret}"}

    def check_file(
        self, relative_or_bytes, category: str = "commercial", name="upload.jpg", **extra
    ):
        from django.core.files.uploadedfile import SimpleUploadedFile

        data = (
            relative_or_bytes
            if isinstance(relative_or_bytes, bytes)
            else photo_bytes(relative_or_bytes)
        )
        return self.client.post(
            "/api/v1/checks",
            {"file": SimpleUploadedFile(name, data), "category": category, **extra},
            **self.auth,
        )

    def check_embeddings(self, embeddings, category: str = "commercial", **extra):
        return self.client.post(
            "/api/v1/checks",
            {
                "category": category,
                "embeddings": [list(map(float, e)) for e in embeddings],
                **extra,
            },
            content_type="application/json",
            **self.auth,
        )

    def get(self, check_id: str):
        return self.client.get(f"/api/v1/checks/{check_id}", **self.auth)

    def cancel(self, check_id: str):
        return self.client.post(f"/api/v1/checks/{check_id}/cancel", **self.auth)
