"""One face, one owner: a second registration of an already registered face is disputed.

Enrollment searches every new face against every registered person (not only those who opted
out) with the checks' verdict rule; a ``match`` marks the newcomer ``disputed`` and opens a
dispute that both sides see on their page without learning who the other is. Until an operator
resolves it the disputed person's grants do not consent, and the resolution is a signed record
in the log.
"""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from consent import selectors as consent_selectors
from consent import services as consent_services
from consent.lib.signing import verify_envelope
from consent.models import Record, RecordKind
from lifecycle.services import dispute_resolve, face_report, person_enroll
from lifecycle.services.disputes import REPORTS_PER_DAY
from registry.lib.errors import Conflict, RegistryError
from registry.models import (
    AuditEvent,
    Dispute,
    DisputeOrigin,
    DisputeResolution,
    DisputeStatus,
    FaceTemplate,
    Person,
    RegistrationStatus,
    User,
)
from tests.consent.records_factories import make_org, make_person

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


def photos(faces_dir: Path, *relative: str) -> list[tuple[str, bytes]]:
    return [(Path(p).name, (faces_dir / "people" / p).read_bytes()) for p in relative]


def enrolled(faces_dir: Path, *relative: str, **person):
    someone = make_person(**person)
    result = person_enroll(person=someone, images=photos(faces_dir, *relative))
    assert result.accepted, [p.reason for p in result.photos]
    return someone, result


def status_of(person: Person) -> str:
    return Person.objects.get(pk=person.pk).registration_status


def dashboard(person: Person) -> str:
    client = Client()
    assert client.login(username=person.user.email, password=PASSWORD)
    response = client.get("/me/")
    assert response.status_code == 200
    return response.content.decode()


@pytest.fixture
def obama_twice(faces_dir):
    """The registered Obama, then a second account enrolling another photo of him."""
    first, _ = enrolled(faces_dir, "obama/obama.jpg", "obama/obama2.jpg")
    second, result = enrolled(faces_dir, "obama/obama3.jpg")
    return first, second, result


def test_a_second_person_enrolling_a_registered_face_becomes_disputed(obama_twice):
    first, second, result = obama_twice

    assert (result.status, result.conflicts) == ("disputed", 1)
    assert result.accepted  # the template is stored, but the registration is in question
    assert status_of(second) == RegistrationStatus.DISPUTED
    assert status_of(first) == RegistrationStatus.ACTIVE
    dispute = Dispute.objects.get()
    assert (dispute.newcomer, dispute.existing) == (second, first)
    assert dispute.origin == DisputeOrigin.ENROLLMENT_CONFLICT
    assert dispute.status == DisputeStatus.OPEN
    assert dispute.newcomer_template_ids == [t.pk for t in second.templates.all()]
    assert set(dispute.existing_template_ids) <= {t.pk for t in first.templates.all()}
    assert AuditEvent.objects.filter(action="dispute.open", target_id=dispute.public_id).exists()


def test_both_see_a_notice_and_neither_learns_who_the_other_is(obama_twice):
    first, second, _ = obama_twice
    dispute = Dispute.objects.get()

    newcomer_page, existing_page = dashboard(second), dashboard(first)

    assert "Your photos match a face that someone else registered first" in newcomer_page
    assert "Someone else registered photos that match your face" in existing_page
    for page, other in ((newcomer_page, first), (existing_page, second)):
        assert dispute.public_id in page
        for identifying in (other.public_id, other.display_name, other.user.email):
            assert identifying not in page


def test_a_stranger_enrolling_is_not_disputed(faces_dir):
    enrolled(faces_dir, "obama/obama.jpg", "obama/obama2.jpg")
    enrolled(faces_dir, "kit_harington/kit1.jpg")

    stranger, result = enrolled(faces_dir, "biden/biden.jpg")

    assert (result.status, result.conflicts) == ("active", 0)
    assert status_of(stranger) == RegistrationStatus.ACTIVE
    assert not Dispute.objects.exists()
    assert "Your face is in a dispute" not in dashboard(stranger)


def test_enrolling_more_photos_does_not_open_a_second_dispute(faces_dir, obama_twice):
    _first, second, _ = obama_twice

    again = person_enroll(person=second, images=photos(faces_dir, "obama/obama4.jpg"))

    assert again.accepted and (again.status, again.conflicts) == ("disputed", 1)
    assert Dispute.objects.count() == 1


def test_the_cli_prints_status_and_conflicts_and_exits_zero_either_way(faces_dir):
    def enroll(email: str, photo: str) -> dict:
        out = StringIO()
        call_command(
            "enroll",
            "--name",
            "Someone",
            "--email",
            email,
            str(faces_dir / "people" / photo),
            stdout=out,
        )  # no SystemExit: exit status 0
        return json.loads(out.getvalue())

    first = enroll("first@example.org", "obama/obama.jpg")
    second = enroll("second@example.org", "obama/obama2.jpg")

    assert (first["status"], first["conflicts"]) == ("active", 0)
    assert (second["status"], second["conflicts"]) == ("disputed", 1)
    # A count, never the other subject.
    assert first["subject"] not in json.dumps(second)


def test_the_api_enrollment_answer_carries_the_status(faces_dir, obama_twice):
    from tests.consent.records_factories import personal_token

    someone = make_person()
    token = personal_token(someone, "profile:write")
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = Client().post(
        "/api/v1/me/photos",
        {
            "photos": [
                SimpleUploadedFile("o.jpg", (faces_dir / "people/obama/obama4.jpg").read_bytes())
            ]
        },
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    # A face already registered twice conflicts with both registrations.
    assert (body["status"], body["conflicts"]) == ("disputed", 2)


# --- Effects: a disputed person's grants do not consent -------------------------------------


def grant_to(person: Person, studio):
    return consent_services.grant_record(
        person=person,
        organisation=studio,
        purpose="A cameo",
        categories=["entertainment"],
        media_types=["image"],
        territory="worldwide",
    )


def test_a_disputed_persons_grant_does_not_consent_in_a_studio_check(obama_twice):
    first, second, _ = obama_twice
    studio = make_org("studio")
    grant_to(second, studio)
    grant_to(first, studio)

    check, receipt = consent_services.consent_check(
        organisation=studio, person=second, category="entertainment", media_type="image"
    )
    assert check.result == "not_consented"
    assert receipt["envelope"]["payload"]["reason"] == "registration_disputed"
    assert first.public_id not in json.dumps(receipt)
    # The other side's grant is unaffected: only the registration in question is held.
    check, _ = consent_services.consent_check(
        organisation=studio, person=first, category="entertainment", media_type="image"
    )
    assert check.result == "consented"


def test_people_consent_holds_a_disputed_persons_grant_too(obama_twice):
    _first, second, _ = obama_twice
    studio = make_org("platform")
    grant_to(second, studio)
    decided = consent_selectors.people_consent(
        person_ids=[second.pk],
        organisation_id=studio.pk,
        category="entertainment",
        media_type="image",
        territory=None,
        at=timezone.now(),
    )[second.pk].decision
    assert (decided.result, decided.reason) == ("not_consented", "registration_disputed")


def test_a_disputed_persons_grant_and_opt_out_in_a_platform_check(settings, obama_twice):
    from tests.matching.checks_fixtures import Platform

    settings.CHECKS_RATE_PER_KEY = settings.CHECKS_RATE_PER_ORGANISATION = "off"
    _first, second, _ = obama_twice
    platform = Platform("Clip Share")
    consent_services.optout_record(person=second, categories=["commercial"])
    consent_services.grant_record(
        person=second,
        organisation=platform.organisation,
        purpose="An advert",
        categories=["commercial"],
        media_types=["image"],
        territory="worldwide",
    )

    response = platform.check_file("people/obama/obama4.jpg")
    assert response.status_code == 200, response.content
    (face,) = response.json()["result"]["faces"]
    # The grant does not consent, and the opt-out asks for review rather than blocking.
    assert face["consent"]["status"] == "not_consented"
    assert face["match"] == "match" and face["verdict"] == "needs_review"

    dispute_resolve(
        dispute=Dispute.objects.get(), resolution="distinct_people", note="", actor=None
    )
    (face,) = platform.check_file("people/obama/obama4.jpg").json()["result"]["faces"]
    assert (face["verdict"], face["consent"]["status"]) == ("consented", "consented")


def test_the_consent_check_api_says_why(obama_twice):
    from tests.consent.records_factories import bearer, org_key

    _first, second, _ = obama_twice
    studio = make_org("studio")
    grant_to(second, studio)
    response = Client().post(
        "/api/v1/consent-checks",
        {"person": second.public_id, "category": "entertainment", "media_type": "image"},
        content_type="application/json",
        **bearer(org_key(studio, "consent:read")),
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["result"], body["reason"]) == ("not_consented", "registration_disputed")


# --- Resolution ------------------------------------------------------------------------------


def operator() -> User:
    return User.objects.create_superuser("ops@example.org", "a long passphrase")


def test_resolving_logs_a_signed_record_that_verify_log_verifies(obama_twice):
    first, second, _ = obama_twice
    dispute = Dispute.objects.get()
    ops = operator()

    resolved = dispute_resolve(
        dispute=dispute,
        resolution=DisputeResolution.EXISTING_OWNS,
        note="The first account showed ID.",
        actor=ops,
    )

    assert resolved.status == DisputeStatus.RESOLVED and resolved.resolved_by == ops
    record = Record.objects.get(kind=RecordKind.DISPUTE_RESOLUTION)
    assert resolved.record == record and record.person_id is None
    envelope = json.loads(bytes(record.log_entry.record))
    ok, reason = verify_envelope(envelope, consent_selectors.published_keys())
    assert ok, reason
    payload = envelope["payload"]
    assert payload["kind"] == "dispute" and payload["dispute"] == dispute.public_id
    assert payload["resolution"] == "existing_owns"
    assert payload["newcomer"] == consent_services.subject_commitment(second)
    logged = json.dumps(envelope)
    for personal in (first.public_id, second.public_id, first.user.email, "ops@example.org"):
        assert personal not in logged
    assert "showed ID" not in logged
    event = AuditEvent.objects.get(action="dispute.resolve")
    assert event.actor == ops and event.metadata["record"] == record.record_id

    out = StringIO()
    call_command("verify_log", stdout=out)
    assert out.getvalue().startswith("ok:")

    # The loser's face is gone and the account suspended; the owner is untouched.
    assert not FaceTemplate.objects.filter(person=second).exists()
    assert Person.objects.get(pk=second.pk).suspended_at is not None
    assert first.templates.count() == 2
    assert (status_of(first), status_of(second)) == ("active", "active")
    with pytest.raises(Conflict):
        dispute_resolve(dispute=dispute, resolution="newcomer_owns", actor=ops)


def test_distinct_people_keeps_both_and_is_not_disputed_again(faces_dir, obama_twice):
    first, second, _ = obama_twice
    dispute_resolve(
        dispute=Dispute.objects.get(),
        resolution=DisputeResolution.DISTINCT_PEOPLE,
        note="Twins.",
        actor=operator(),
    )
    assert (status_of(first), status_of(second)) == ("active", "active")
    again = person_enroll(person=second, images=photos(faces_dir, "obama/obama4.jpg"))
    assert (again.status, again.conflicts) == ("active", 0)
    assert Dispute.objects.count() == 1


def test_the_resolved_notice_tells_each_side_its_outcome(obama_twice):
    first, second, _ = obama_twice
    dispute_resolve(
        dispute=Dispute.objects.get(), resolution="newcomer_owns", note="", actor=operator()
    )
    assert "the face was found to be yours" in dashboard(second)
    assert FaceTemplate.objects.filter(person=first).count() == 0


def test_an_unknown_resolution_is_refused(obama_twice):
    with pytest.raises(RegistryError) as refused:
        dispute_resolve(dispute=Dispute.objects.get(), resolution="coin_toss", actor=None)
    assert refused.value.status_code == 400


# --- "Someone else registered my face" ------------------------------------------------------


def test_report_my_face_opens_a_dispute_against_the_other_registration(faces_dir):
    # An older registration holds the face (it predates detection: its dispute never opened).
    holder, _ = enrolled(faces_dir, "kit_harington/kit1.jpg", "kit_harington/kit2.jpg")
    owner, _ = enrolled(faces_dir, "kit_harington/kit3.jpg")
    Dispute.objects.all().delete()
    Person.objects.update(registration_status=RegistrationStatus.ACTIVE)

    outcome = face_report(person=owner)

    assert outcome.opened == 1
    assert "operator" in outcome.message and holder.public_id not in outcome.message
    dispute = Dispute.objects.get()
    assert dispute.origin == DisputeOrigin.REPORTED
    assert (dispute.newcomer, dispute.existing) == (owner, holder)
    # The reported registration is the one in question.
    assert (status_of(holder), status_of(owner)) == ("disputed", "active")
    # Reporting again finds the dispute already open and opens nothing.
    again = face_report(person=owner)
    assert (again.opened, again.already_open) == (0, True)


def test_report_my_face_says_so_when_nobody_matches_and_is_bounded(faces_dir):
    enrolled(faces_dir, "kit_harington/kit1.jpg")
    me, _ = enrolled(faces_dir, "biden/biden.jpg")

    for _ in range(REPORTS_PER_DAY):
        outcome = face_report(person=me)
        assert outcome.opened == 0 and outcome.message == "No other registration matched your face."
    with pytest.raises(RegistryError) as refused:
        face_report(person=me)
    assert refused.value.status_code == 429
    assert not Dispute.objects.exists()


def test_report_from_the_page(faces_dir):
    holder, _ = enrolled(faces_dir, "rose_leslie/rose1.jpg")
    Dispute.objects.all().delete()
    owner = make_person()
    client = Client()
    assert client.login(username=owner.user.email, password=PASSWORD)
    assert "Someone else registered my face" not in client.get("/me/").content.decode()

    # Photos first (this enrollment itself finds the conflict), then the report says so.
    person_enroll(person=owner, images=photos(faces_dir, "rose_leslie/rose2.jpg"))
    page = client.get("/me/").content.decode()
    assert "Someone else registered my face" in page

    refused = client.post("/me/report-face/", {})
    assert refused.status_code == 400
    response = client.post("/me/report-face/", {"confirm": "on"}, follow=True)
    assert response.status_code == 200
    text = response.content.decode()
    assert "A dispute about your face is already with an operator." in text
    assert holder.public_id not in text and holder.display_name not in text


def test_an_operator_resolves_a_dispute_in_the_admin(client, obama_twice):
    first, second, _ = obama_twice
    dispute = Dispute.objects.get()
    ops = operator()
    client.force_login(ops)
    url = f"/admin/registry/dispute/{dispute.pk}/change/"
    page = client.get(url).content.decode()
    assert 'name="resolution"' in page and 'name="note"' in page

    # A note is required, and an unknown choice is refused by the form.
    assert client.post(url, {"resolution": "coin_toss", "note": "x"}).status_code == 200
    response = client.post(url, {"resolution": "existing_owns", "note": "First showed ID."})

    assert response.status_code == 302
    dispute.refresh_from_db()
    assert (dispute.status, dispute.resolution, dispute.note) == (
        "resolved",
        "existing_owns",
        "First showed ID.",
    )
    assert dispute.resolved_by == ops and dispute.record is not None
    assert (status_of(first), status_of(second)) == ("active", "active")
    # Resolved: nothing left to edit, and it cannot be deleted or added by hand.
    page = client.get(url).content.decode()
    assert 'name="resolution"' not in page
    assert client.get("/admin/registry/dispute/add/").status_code == 403
    assert client.get(f"/admin/registry/dispute/{dispute.pk}/delete/").status_code == 403


def test_the_persons_api_and_export_show_the_dispute_without_the_other_side(obama_twice):
    from lifecycle.services import person_export
    from tests.consent.records_factories import bearer, personal_token

    first, second, _ = obama_twice
    me = Client().get("/api/v1/me", **bearer(personal_token(second, "profile:read")))
    assert me.status_code == 200 and me.json()["registration_status"] == "disputed"

    exported = person_export(person=Person.objects.get(pk=second.pk))
    assert exported["person"]["registration_status"] == "disputed"
    (entry,) = exported["disputes"]
    assert entry["open"] and entry["about_this_registration"]
    assert first.public_id not in json.dumps(exported["disputes"])


def test_a_higher_assurance_level_does_not_win_by_itself(faces_dir):
    from registry.models import AssuranceLevel

    first, _ = enrolled(faces_dir, "rose_leslie/rose1.jpg", assurance=AssuranceLevel.SELF_ASSERTED)
    second, result = enrolled(faces_dir, "rose_leslie/rose2.jpg", assurance=AssuranceLevel.VERIFIED)

    assert result.status == "disputed"
    assert (status_of(first), status_of(second)) == ("active", "disputed")
    studio = make_org("studio")
    grant_to(second, studio)
    check, _ = consent_services.consent_check(
        organisation=studio, person=second, category="entertainment", media_type="image"
    )
    assert check.result == "not_consented"
