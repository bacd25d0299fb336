"""Rough edges a person met on the consent pages (issue 13): a redundant opt-out, an opt-out that
cannot match anything, revoking twice, proofs in plain words, the front page on a fresh install,
and /me/ saying what to do next."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from consent import services
from consent.lib.signing import verify_envelope
from consent.models import Record, RecordKind
from consent.selectors import published_keys
from registry.lib.errors import Conflict
from registry.models import FaceTemplate
from tests.consent.records_factories import bearer, make_org, make_person, personal_token

pytestmark = pytest.mark.django_db


def signed_in(person) -> Client:
    client = Client()
    client.force_login(person.user)
    return client


def with_a_template(person):
    FaceTemplate.objects.create(
        person=person,
        embedding=[0.0] * 128,
        key_version=1,
        model_name="test",
        model_version="1",
        quality=1.0,
        face_px=200,
    )
    return person


def test_an_identical_or_narrower_optout_is_refused_and_says_which_record_covers_it():
    person = make_person()
    everything = services.optout_record(person=person, categories=None)
    for categories in (None, ["political"], ["political", "commercial"]):
        with pytest.raises(Conflict) as refused:
            services.optout_record(person=person, categories=categories)
        assert everything.record_id in refused.value.message
        assert "already covers" in refused.value.message
    assert Record.objects.filter(person=person, kind=RecordKind.OPTOUT).count() == 1


def test_a_broader_optout_than_the_active_one_is_recorded():
    person = make_person()
    services.optout_record(person=person, categories=["political"])
    with pytest.raises(Conflict):
        services.optout_record(person=person, categories=["political"])
    services.optout_record(person=person, categories=["political", "commercial"])
    services.optout_record(person=person, categories=None)
    assert Record.objects.filter(person=person, kind=RecordKind.OPTOUT).count() == 3


def test_after_a_revocation_the_same_optout_can_be_made_again():
    person = make_person()
    first = services.optout_record(person=person, categories=["political"])
    services.record_revoke(record=first)
    again = services.optout_record(person=person, categories=["political"])
    assert again.record_id != first.record_id


def test_the_api_answers_a_redundant_optout_with_409_and_a_plain_message():
    person = make_person()
    client = APIClient()
    client.credentials(**bearer(personal_token(person)))
    first = client.post("/api/v1/me/consent/optouts", {"categories": ["sexual"]}, format="json")
    assert first.status_code == 201, first.content
    again = client.post("/api/v1/me/consent/optouts", {"categories": ["sexual"]}, format="json")
    assert again.status_code == 409
    error = again.json()["error"]
    assert error["code"] == "optout_already_covered"
    assert "already covers" in error["message"]


def test_the_page_shows_the_refusal_instead_of_recording_twice():
    person = with_a_template(make_person())
    client = signed_in(person)
    client.post("/me/consent/optouts/", {"scope": "all"})
    page = client.post("/me/consent/optouts/", {"scope": "all"}, follow=True).content.decode()
    assert "already covers this; nothing new was recorded" in page
    assert Record.objects.filter(person=person, kind=RecordKind.OPTOUT).count() == 1


def test_an_optout_without_face_photos_warns_that_it_cannot_match_anything():
    person = make_person()
    client = signed_in(person)
    page = client.get("/me/consent/").content.decode()
    assert 'id="no-templates"' in page
    done = client.post("/me/consent/optouts/", {"scope": "all"}, follow=True).content.decode()
    assert "cannot match anything until you add photos" in done

    with_a_template(person)
    page = client.get("/me/consent/").content.decode()
    assert 'id="no-templates"' not in page


def test_the_optout_choices_are_rendered_inside_their_labels():
    page = signed_in(make_person()).get("/me/consent/").content.decode()
    assert '<label for="id_scope_0"><input type="radio"' in page
    assert '<label for="id_categories_0"><input type="checkbox"' in page


def test_revoking_an_already_revoked_record_says_so_before_any_button():
    person = make_person()
    record = services.optout_record(person=person, categories=["political"])
    client = signed_in(person)
    assert (
        'id="confirm-revoke"'
        in client.get(f"/me/consent/records/{record.record_id}/revoke/").content.decode()
    )
    services.record_revoke(record=record)
    page = client.get(f"/me/consent/records/{record.record_id}/revoke/").content.decode()
    assert "already revoked" in page and 'id="already-revoked"' in page
    assert 'id="confirm-revoke"' not in page


def test_the_proof_page_explains_itself_and_the_proof_downloads_as_a_file():
    person = make_person()
    record = services.optout_record(person=person, categories=["political"])
    client = signed_in(person)
    page = client.get(f"/me/consent/records/{record.record_id}/").content.decode()
    assert "In plain words, this proof shows that" in page
    assert "append-only log" in page and "commitment" in page
    download = client.get(f"/me/consent/records/{record.record_id}/proof.json")
    assert download.status_code == 200
    assert download["Content-Type"] == "application/json"
    assert download["Content-Disposition"] == (
        f'attachment; filename="{record.record_id}-proof.json"'
    )
    proof = json.loads(download.content)
    assert verify_envelope(proof["envelope"], published_keys())[0]
    # Someone else's record is not theirs to download.
    assert (
        signed_in(make_person())
        .get(f"/me/consent/records/{record.record_id}/proof.json")
        .status_code
        == 404
    )


def test_the_front_page_of_a_fresh_install_shows_no_api_404_for_the_tree_head():
    page = Client().get("/").content.decode()
    assert "No decision has been recorded yet" in page
    assert "/api/v1/log/tree-head" not in page
    services.optout_record(person=make_person(), categories=None)
    page = Client().get("/").content.decode()
    assert "The log holds <strong>1</strong> record;" in page
    assert "/api/v1/log/tree-head" in page


def test_me_says_what_to_do_next_and_lists_waiting_requests():
    person = make_person(verified=False)
    client = signed_in(person)
    assert "Verify your email address" in client.get("/me/").content.decode()

    person.user.email_verified_at = timezone.now()
    person.user.save(update_fields=["email_verified_at"])
    assert "Add two or three photos" in client.get("/me/").content.decode()

    with_a_template(person)
    assert "Decide how your likeness may be used" in client.get("/me/").content.decode()

    studio = make_org("studio", name="Harbour Films")
    services.consent_request_create(
        organisation=studio,
        requested_by=None,
        person=person,
        purpose="A voice-over cameo",
        categories=["entertainment"],
        media_types=["video"],
        territory="worldwide",
    )
    page = client.get("/me/").content.decode()
    assert "1 request waiting for your answer" in page and "Harbour Films" in page

    services.optout_record(person=person, categories=["political"])
    assert "You are protected" in client.get("/me/").content.decode()
