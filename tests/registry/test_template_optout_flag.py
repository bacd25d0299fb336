"""Templates of people with an active opt-out carry ``opted_out``: checks search only those."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from django.db import connection, transaction
from django.utils import timezone

from consent.services import optout_record, record_revoke, templates_optout_sync
from lifecycle.services import person_enroll
from registry.models import FaceTemplate

pytestmark = pytest.mark.django_db
# A template's stored fields where only its person and flag matter.
PLACEHOLDER_TEMPLATE = {
    "embedding": np.zeros(128, dtype=np.float32),
    "key_version": 1,
    "model_name": "test",
    "model_version": "1",
    "quality": 1.0,
    "face_px": 200,
}


def flags(person) -> list[bool]:
    return list(FaceTemplate.objects.filter(person=person).values_list("opted_out", flat=True))


def test_an_optout_flags_the_templates_until_the_last_optout_is_revoked(make_person, photo):
    person, bystander = make_person(), make_person("Bystander")
    person_enroll(person=person, images=[("a.jpg", photo("obama/obama.jpg"))])
    person_enroll(person=bystander, images=[("b.jpg", photo("biden/biden.jpg"))])
    assert flags(person) == [False]

    advertising = optout_record(person=person, categories=["commercial"])
    everything = optout_record(person=person, categories=None)  # broader: a second record
    assert flags(person) == [True]
    record_revoke(record=everything)
    assert flags(person) == [True], "one opt-out is still active"
    record_revoke(record=advertising)
    assert flags(person) == [False]
    assert flags(bystander) == [False]


def test_a_photo_enrolled_after_an_optout_is_searched(make_person, photo):
    person = make_person()
    optout_record(person=person, categories=["political"])
    person_enroll(person=person, images=[("a.jpg", photo("obama/obama.jpg"))])
    assert flags(person) == [True]


@pytest.mark.django_db(transaction=True)
def test_a_template_stored_while_an_optout_commits_is_still_flagged(make_person):
    """Enrollment read "no opt-out" and has not committed its template yet: the opt-out's flag
    update waits for it and then flags it too."""
    person = make_person()
    finished = threading.Event()

    def opt_out():
        try:
            optout_record(person=person, categories=None)
        finally:
            connection.close()
            finished.set()

    with transaction.atomic():
        opted_out = templates_optout_sync(person_id=person.pk)
        assert opted_out is False
        worker = threading.Thread(target=opt_out)
        worker.start()
        time.sleep(0.5)
        assert not finished.is_set(), "the opt-out must wait for the enrollment's lock"
        FaceTemplate.objects.create(person=person, opted_out=opted_out, **PLACEHOLDER_TEMPLATE)
    worker.join(timeout=30)
    assert finished.is_set()
    assert flags(person) == [True]


@pytest.mark.django_db(transaction=True)
def test_upgrading_flags_the_templates_of_people_who_had_already_opted_out():
    """Migration 0006 fills the flag from the records as they stand, so nobody who opted out
    before the upgrade drops out of the checks' search."""
    from django.db.migrations.executor import MigrationExecutor

    before = [("registry", "0005_template_hnsw_m32")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    try:
        apps = executor.loader.project_state(before).apps
        Person = apps.get_model("registry", "Person")
        Template = apps.get_model("registry", "FaceTemplate")
        LogEntry = apps.get_model("consent", "LogEntry")
        Record = apps.get_model("consent", "Record")
        people = {name: Person.objects.create(display_name=name) for name in "abc"}
        for person in people.values():
            Template.objects.create(person=person, **PLACEHOLDER_TEMPLATE)
        revoked_at = {"a": None, "b": timezone.now(), "c": None}
        kinds = {"a": "optout", "b": "optout", "c": "grant"}
        for index, (name, person) in enumerate(people.items()):
            Record.objects.create(
                record_id=f"rec_{name}",
                kind=kinds[name],
                person=person,
                subject="00",
                log_entry=LogEntry.objects.create(index=index, leaf_hash=bytes(32), record=b"{}"),
                revoked_at=revoked_at[name],
            )
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
    flagged = dict(
        FaceTemplate.objects.values_list("person__display_name", "opted_out").order_by("id")
    )
    assert flagged == {"a": True, "b": False, "c": False}
