"""Erasure destroys everything at once; export gives the person all their data; retention
reminds, then purges templates nobody confirmed."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from django.core import mail
from django.db import connection
from django.utils import timezone

from lifecycle.services import (
    attestation_create,
    person_enroll,
    person_erase,
    person_export,
    retention_sweep,
)
from matching.engine import get_engine
from matching.lib.imaging import decode_image
from matching.selectors import faces_nearest, template_key_versions_forget
from registry.models import (
    ApiKey,
    Attestation,
    AuditEvent,
    FaceTemplate,
    OrganisationKind,
    Person,
    ReferencePhoto,
    User,
)
from registry.services import api_key_create, organisation_create, person_update, templates_confirm

pytestmark = pytest.mark.django_db


def _embedding(data: bytes) -> np.ndarray:
    (face,) = get_engine().analyse(decode_image(data, max_pixels=40_000_000))
    return face.vector


def _rows_mentioning(value: str) -> list[str]:
    """Every table and column of the registry app holding ``value`` anywhere in a text column."""
    found = []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'public' AND table_name LIKE 'registry_%%' "
            "AND data_type IN ('text', 'character varying', 'jsonb')"
        )
        for table, column in cursor.fetchall():
            cursor.execute(
                f'SELECT count(*) FROM "{table}" WHERE "{column}"::text LIKE %s',  # noqa: S608
                [f"%{value}%"],
            )
            if cursor.fetchone()[0]:
                found.append(f"{table}.{column}")
    return found


@pytest.fixture
def verifier():
    staff = User.objects.create_user("verifier@example.org", "a long passphrase")
    return organisation_create(name="Verify Ltd", kind=OrganisationKind.VERIFIER, owner=staff)


def test_erasure_leaves_no_row_and_the_face_matches_nothing(make_person, photo, verifier):
    template_key_versions_forget()
    person = make_person("Erin Erased", email="erin@example.org", password="a long passphrase")
    other = make_person("Someone Else")
    person_update(person=person, keep_photos=True)
    person_enroll(
        person=person,
        images=[("a.jpg", photo("obama/obama.jpg")), ("b.jpg", photo("obama/obama2.jpg"))],
    )
    person_enroll(person=other, images=[("k.jpg", photo("kit_harington/kit1.jpg"))])
    attestation_create(person=person, verifier=verifier, method="passport seen in person")
    api_key_create(user=person.user, name="t", scopes=["profile:read"], created_by=person.user)
    probe = _embedding(photo("obama/obama3.jpg"))
    (hit, *_) = faces_nearest(embedding=probe, limit=1, exact=True)
    assert hit.person_id == person.pk
    person_pk, user_pk, public_id = person.pk, person.user_id, person.public_id

    person_erase(person=person)

    assert not Person.objects.filter(pk=person_pk).exists()
    assert not User.objects.filter(pk=user_pk).exists()
    assert not FaceTemplate.objects.filter(person_id=person_pk).exists()
    assert not ReferencePhoto.objects.filter(person_id=person_pk).exists()
    assert not Attestation.objects.filter(person_id=person_pk).exists()
    assert not ApiKey.objects.filter(user_id=user_pk).exists()
    for value in ("erin@example.org", "Erin Erased", public_id):
        assert _rows_mentioning(value) == [], value
    assert AuditEvent.objects.filter(action="person.erase").exists()
    # Their face no longer matches anything: the nearest template left is someone else's, far.
    hits = faces_nearest(embedding=probe, limit=5, exact=True)
    assert all(h.person_id != person_pk for h in hits)
    assert all(h.distance > get_engine().review_threshold for h in hits)
    assert Person.objects.filter(pk=other.pk).exists()


def test_export_holds_all_the_persons_data_and_only_theirs(make_person, photo, verifier):
    person = make_person("Ex Porter", email="ex@example.org")
    other = make_person("Other", email="other@example.org")
    person_update(person=person, keep_photos=True)
    person_enroll(person=person, images=[("a.jpg", photo("biden/biden.jpg"))])
    person_enroll(person=other, images=[("b.jpg", photo("rose_leslie/rose1.jpg"))])
    attestation_create(person=person, verifier=verifier, method="video call")
    data = person_export(person=person)
    assert data["person"]["subject"] == person.public_id
    assert data["person"]["assurance"] == "verified"
    assert data["account"]["email"] == "ex@example.org"
    (template,) = data["templates"]
    assert len(template["embedding"]) == 128
    assert template["photo"]["content_type"] == "image/jpeg"
    assert data["attestations"][0]["method"] == "video call"
    assert "other@example.org" not in str(data)


@pytest.fixture
def short_retention(settings):
    settings.RETENTION_TEMPLATE_DAYS = 100
    settings.RETENTION_REMINDER_DAYS = 10
    return settings


def test_the_default_retention_is_three_years():
    from django.conf import settings

    assert settings.RETENTION_TEMPLATE_DAYS == 3 * 365
    assert "lifecycle-retention-sweep" in settings.CELERY_BEAT_SCHEDULE


def test_unconfirmed_templates_are_purged_only_after_a_reminder(
    make_person, photo, short_retention
):
    person = make_person(email="old@example.org")
    person_enroll(person=person, images=[("a.jpg", photo("obama/obama.jpg"))])
    fresh = make_person(email="fresh@example.org")
    person_enroll(person=fresh, images=[("b.jpg", photo("biden/biden.jpg"))])
    long_ago = timezone.now() - timedelta(days=101)
    Person.objects.filter(pk=person.pk).update(templates_confirmed_at=long_ago)
    mail.outbox.clear()

    # First sweep: expired, but never reminded, so only a reminder goes out.
    assert retention_sweep() == {"reminded": 1, "purged": 0}
    assert FaceTemplate.objects.filter(person=person).count() == 1
    (reminder,) = mail.outbox
    assert reminder.to == ["old@example.org"]
    assert "/me/" in reminder.body
    assert retention_sweep() == {"reminded": 0, "purged": 0}  # not twice, not purged yet

    # After the notice period, the templates are purged; the fresh person keeps theirs.
    later = timezone.now() + timedelta(days=11)
    assert retention_sweep(now=later) == {"reminded": 0, "purged": 1}
    assert not FaceTemplate.objects.filter(person=person).exists()
    assert FaceTemplate.objects.filter(person=fresh).count() == 1


def test_confirming_after_the_reminder_keeps_the_templates(make_person, photo, short_retention):
    person = make_person()
    person_enroll(person=person, images=[("a.jpg", photo("obama/obama.jpg"))])
    Person.objects.filter(pk=person.pk).update(
        templates_confirmed_at=timezone.now() - timedelta(days=95)
    )
    assert retention_sweep()["reminded"] == 1
    templates_confirm(person=Person.objects.get(pk=person.pk))
    assert retention_sweep(now=timezone.now() + timedelta(days=11)) == {
        "reminded": 0,
        "purged": 0,
    }
    assert FaceTemplate.objects.filter(person=person).exists()


def test_the_retention_task_runs_the_sweep(make_person, photo, short_retention):
    from lifecycle.tasks import retention_sweep as task

    assert task.delay().get() == {"reminded": 0, "purged": 0}
