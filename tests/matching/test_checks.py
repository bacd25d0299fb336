"""The checks API on the shared faces: who is found, who never is, and what changes a verdict."""

from __future__ import annotations

import json

import numpy as np
import pytest

from consent.models import Record, RecordKind
from consent.services import grant_record, record_revoke
from lifecycle.services import person_erase
from matching.engine import get_engine
from matching.lib.imaging import decode_image
from matching.models import Check, CheckMatch
from tests.matching.checks_fixtures import Platform, enroll, photo_bytes

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_rate_limits")]


@pytest.fixture
def platform(db) -> Platform:
    return Platform("Clip Share")


@pytest.fixture
def other_platform(db) -> Platform:
    return Platform("Other Tube")


@pytest.fixture
def registry_people(db):
    """Obama and Biden opted out of every use; Kit enrolled but never opted out."""
    return {
        "obama": enroll("obama", ["obama/obama.jpg", "obama/obama2.jpg"]),
        "biden": enroll("biden", ["biden/biden.jpg"]),
        "kit": enroll("kit", ["kit_harington/kit1.jpg", "kit_harington/kit2.jpg"], optout=False),
    }


def faces_of(response) -> list[dict]:
    assert response.status_code == 200, response.content
    return response.json()["result"]["faces"]


def embedding_of(relative: str) -> np.ndarray:
    (face,) = get_engine().analyse(decode_image(photo_bytes(relative), max_pixels=40_000_000))
    return face.vector


def test_an_opted_out_person_is_found_in_their_other_photos(platform, registry_people):
    for other_photo in ("people/obama/obama3.jpg", "people/obama/obama4.jpg"):
        response = platform.check_file(other_photo)
        body = response.json()
        assert body["result"]["verdict"] == "blocked"
        (face,) = body["result"]["faces"]
        assert face["match"] == "match"
        assert face["distance"] < 0.6
        assert face["reference"].startswith("ref_")
        assert face["optout"] == {"categories": ["all"]}
        assert face["consent"]["status"] == "not_consented"
        assert len(face["box"]) == 4
    response = platform.check_file("people/biden/biden2.jpg")
    assert response.json()["result"]["verdict"] == "blocked"


def test_opted_out_people_are_found_in_group_photos(platform, registry_people):
    body = platform.check_file("group/two_people.jpg").json()["result"]
    assert body["verdict"] == "blocked"
    matched = [f for f in body["faces"] if f["match"] == "match"]
    assert len(matched) == 2
    assert len({f["reference"] for f in matched}) == 2  # two different people

    body = platform.check_file("group/obama_and_biden.jpg").json()["result"]
    matched = [f for f in body["faces"] if f["match"] == "match"]
    assert len(matched) == 2
    assert body["faces_found"] >= 3  # and the unregistered third person is not matched
    assert sum(f["match"] == "none" for f in body["faces"]) >= 1


def test_people_not_enrolled_or_not_opted_out_are_never_matched(platform, registry_people):
    for relative in (
        "people/kit_harington/kit3.jpg",  # enrolled, but no opt-out: not a candidate
        "people/rose_leslie/rose1.jpg",
        "people/rose_leslie/rose2.jpg",
        "people/alex_lacamoire/alex1.png",
        "people/alex_lacamoire/alex2.jpg",
        "people/lin_manuel_miranda/lin1.png",
        "group/kit_with_rose.jpg",
    ):
        body = platform.check_file(relative).json()["result"]
        assert body["faces_found"] >= 1, relative
        assert body["verdict"] == "clear", relative
        assert all(f["match"] == "none" and f["reference"] is None for f in body["faces"])


def test_after_a_revocation_the_same_check_comes_back_clear(platform, registry_people):
    assert platform.check_file("people/obama/obama3.jpg").json()["result"]["verdict"] == "blocked"
    optout = Record.objects.get(person=registry_people["obama"], kind=RecordKind.OPTOUT)
    record_revoke(record=optout)
    body = platform.check_file("people/obama/obama3.jpg").json()["result"]
    assert body["verdict"] == "clear"
    assert body["faces"][0]["match"] == "none"


def test_after_an_erasure_the_same_check_comes_back_clear(platform, registry_people):
    assert platform.check_file("people/biden/biden2.jpg").json()["result"]["verdict"] == "blocked"
    person_erase(person=registry_people["biden"])
    assert platform.check_file("people/biden/biden2.jpg").json()["result"]["verdict"] == "clear"


def test_an_opt_out_of_other_uses_does_not_block_this_use(platform, db):
    enroll("obama", ["obama/obama.jpg"], optout=["political"])
    assert platform.check_file("people/obama/obama3.jpg").json()["result"]["verdict"] == "clear"
    body = platform.check_file("people/obama/obama3.jpg", category="political").json()["result"]
    assert body["verdict"] == "blocked"
    assert body["faces"][0]["optout"] == {"categories": ["political"]}


def test_a_grant_to_the_calling_studio_yields_consented_and_only_for_it(
    platform, other_platform, registry_people
):
    studio = Platform("Northern Pictures", kind="studio")
    grant = grant_record(
        person=registry_people["obama"],
        organisation=studio.organisation,
        purpose="Documentary reenactment",
        categories=["commercial"],
        media_types=["image", "video"],
        territory="worldwide",
    )
    body = studio.check_file("people/obama/obama3.jpg").json()["result"]
    assert body["verdict"] == "consented"
    (face,) = body["faces"]
    assert face["consent"] == {"status": "consented", "grant_record_id": grant.record_id}
    assert face["verdict"] == "consented"
    # The grant is to the studio only: the platform is still blocked, and another use is too.
    assert platform.check_file("people/obama/obama3.jpg").json()["result"]["verdict"] == "blocked"
    other_use = studio.check_file("people/obama/obama3.jpg", category="political").json()
    assert other_use["result"]["verdict"] == "blocked"
    # A group photo with a consented and a non-consented person is blocked.
    group = studio.check_file("group/two_people.jpg").json()["result"]
    assert group["verdict"] == "blocked"
    assert sorted(f["verdict"] for f in group["faces"]) == ["blocked", "consented"]


def test_another_organisation_gets_a_different_opaque_reference(
    platform, other_platform, registry_people
):
    first = faces_of(platform.check_file("people/obama/obama3.jpg"))[0]["reference"]
    again = faces_of(platform.check_file("people/obama/obama4.jpg"))[0]["reference"]
    elsewhere = faces_of(other_platform.check_file("people/obama/obama3.jpg"))[0]["reference"]
    assert first == again  # stable for one organisation
    assert elsewhere != first  # unlinkable across organisations
    biden = faces_of(platform.check_file("people/biden/biden2.jpg"))[0]["reference"]
    assert biden not in (first, elsewhere)


def test_a_platform_never_receives_a_name_email_or_public_id(platform, registry_people):
    response = platform.check_file("group/two_people.jpg")
    text = response.content.decode()
    for person in (registry_people["obama"], registry_people["biden"]):
        assert person.public_id not in text
        assert person.user.email not in text
        assert person.display_name not in text.lower()
    stored = Check.objects.get(pk=response.json()["id"])
    assert registry_people["obama"].public_id not in json.dumps(stored.result)


def test_embeddings_are_checked_like_the_photo_they_came_from(platform, registry_people):
    vector = embedding_of("people/obama/obama3.jpg")
    stranger = embedding_of("people/rose_leslie/rose1.jpg")
    response = platform.check_embeddings([vector, stranger], boxes=[[1, 2, 3, 4], [5, 6, 7, 8]])
    body = response.json()
    assert body["kind"] == "embeddings"
    assert body["result"]["verdict"] == "blocked"
    assert [f["match"] for f in body["result"]["faces"]] == ["match", "none"]
    assert body["result"]["faces"][0]["box"] == [1, 2, 3, 4]
    assert len(body["result"]["media_sha256"]) == 64


def test_a_face_just_above_the_threshold_is_possible_and_needs_review(platform, db):
    enroll("obama", ["obama/obama.jpg"])
    engine = get_engine()
    template = embedding_of("people/obama/obama.jpg").astype(np.float64)
    direction = np.random.default_rng(1).normal(size=128)
    direction /= np.linalg.norm(direction)
    for distance, match, verdict in [
        (0.55, "match", "blocked"),
        (0.64, "possible", "needs_review"),
        (0.75, "none", "clear"),
    ]:
        probe = template + distance * direction
        body = platform.check_embeddings([probe]).json()["result"]
        assert body["faces"][0]["match"] == match, distance
        assert body["verdict"] == verdict
        if match != "none":
            assert body["faces"][0]["distance"] == pytest.approx(distance, abs=2e-3)
    assert engine.threshold < 0.64 <= engine.review_threshold


def test_a_match_is_decided_over_all_of_a_persons_templates(platform, db):
    """The probe is far from one of the person's photos and close to another: still a match."""
    enroll("obama", ["obama/obama.jpg", "obama/obama2.jpg"])
    first = embedding_of("people/obama/obama.jpg").astype(np.float64)
    second = embedding_of("people/obama/obama2.jpg").astype(np.float64)
    probe = second + 0.3 * (second - first) / np.linalg.norm(second - first)
    assert np.linalg.norm(probe - first) > 0.6
    body = platform.check_embeddings([probe]).json()["result"]
    assert body["faces"][0]["match"] == "match"


def test_a_person_sees_every_check_that_matched_them(platform, other_platform, registry_people):
    platform.check_file("people/obama/obama3.jpg")
    other_platform.check_file("group/two_people.jpg")
    platform.check_file("people/rose_leslie/rose1.jpg")  # clear: matched nobody
    obama = registry_people["obama"]
    rows = CheckMatch.objects.filter(person=obama).order_by("created_at")
    assert [r.organisation_id for r in rows] == [
        platform.organisation.pk,
        other_platform.organisation.pk,
    ]
    assert CheckMatch.objects.filter(person=registry_people["biden"]).count() == 1

    from django.test import Client

    client = Client()
    client.force_login(obama.user)
    page = client.get("/me/checks/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Clip Share" in html and "Other Tube" in html
    assert "blocked" in html
    # Biden's page lists only the group photo check.
    client.force_login(registry_people["biden"].user)
    html = client.get("/me/checks/").content.decode()
    assert "Other Tube" in html and "Clip Share" not in html


def test_every_check_is_stored_and_readable_clear_ones_too(platform, registry_people):
    clear = platform.check_file("people/rose_leslie/rose1.jpg").json()
    assert clear["stored"] is True
    fetched = platform.get(clear["id"]).json()
    assert fetched["result"]["verdict"] == "clear"
    assert fetched["result"]["receipt"] == clear["result"]["receipt"]
    assert not CheckMatch.objects.filter(media_check_id=clear["id"]).exists()
    blocked = platform.check_file("people/obama/obama3.jpg").json()
    assert blocked["stored"] is True
    fetched = platform.get(blocked["id"]).json()
    assert fetched["status"] == "done"
    assert fetched["result"]["verdict"] == "blocked"


def test_the_receipt_is_signed_and_verifies_offline(platform, registry_people, client):
    from consent.lib.receipts import verify_receipt

    body = platform.check_file("people/obama/obama3.jpg").json()
    receipt = body["result"]["receipt"]
    payload = receipt["payload"]["body"]
    assert payload["media_sha256"] == body["result"]["media_sha256"]
    assert payload["verdict"] == "blocked"
    assert payload["check_id"] == body["id"]
    assert receipt["payload"]["issued_at"]
    assert receipt["signatures"][0]["kid"]
    keys = client.get("/.well-known/likeness-registry/keys.json").json()
    assert verify_receipt(receipt, keys)["body"]["verdict"] == "blocked"
    import hashlib

    assert (
        payload["media_sha256"]
        == hashlib.sha256(photo_bytes("people/obama/obama3.jpg")).hexdigest()
    )
