"""Every matched face carries the person's assurance level, and the level weighs the verdict.

Under an organisation's policy (``block_min_assurance``, default ``liveness``) a match of a
person at or above it is ``blocked``, below it ``needs_review``; a grant from a person below
``liveness``, or to an unverified organisation, never turns a verdict into ``consented``.
"""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command

from consent.lib.receipts import verify_receipt
from consent.services import grant_record
from matching.models import CheckMatch
from registry.models import AssuranceLevel, Organisation
from tests.matching.checks_fixtures import FACES, Platform, enroll

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_rate_limits")]

LEVELS = [
    AssuranceLevel.SELF_ASSERTED,
    AssuranceLevel.EMAIL_VERIFIED,
    AssuranceLevel.LIVENESS,
    AssuranceLevel.VERIFIED,
]
OBAMA_ELSEWHERE = "people/obama/obama3.jpg"


def obama(level: str):
    return enroll("obama", ["obama/obama.jpg", "obama/obama2.jpg"], assurance=level)


def with_policy(platform: Platform, level: str) -> Platform:
    Organisation.objects.filter(pk=platform.organisation.pk).update(block_min_assurance=level)
    platform.organisation.refresh_from_db()
    return platform


def result_of(response) -> dict:
    assert response.status_code == 200, response.content
    return response.json()["result"]


@pytest.mark.parametrize(
    ("level", "verdict"),
    [
        (AssuranceLevel.SELF_ASSERTED, "needs_review"),
        (AssuranceLevel.EMAIL_VERIFIED, "needs_review"),
        (AssuranceLevel.LIVENESS, "blocked"),
        (AssuranceLevel.VERIFIED, "blocked"),
    ],
    ids=str,
)
def test_under_the_default_policy_only_liveness_and_above_block(level, verdict):
    person = obama(level)
    platform = Platform("Clip Share")
    assert platform.organisation.block_min_assurance == AssuranceLevel.LIVENESS

    result = result_of(platform.check_file(OBAMA_ELSEWHERE))

    assert result["verdict"] == verdict
    (face,) = result["faces"]
    assert face["match"] == "match" and face["assurance"] == level
    stored = CheckMatch.objects.get(person=person)
    assert (stored.assurance, stored.verdict) == (level, verdict)


@pytest.mark.parametrize("policy", LEVELS, ids=str)
@pytest.mark.parametrize("level", LEVELS, ids=str)
def test_an_organisation_policy_sets_the_lowest_level_that_blocks(policy, level):
    obama(level)
    platform = with_policy(Platform("Clip Share"), policy)

    result = result_of(platform.check_file(OBAMA_ELSEWHERE))

    blocks = LEVELS.index(level) >= LEVELS.index(policy)
    assert result["verdict"] == ("blocked" if blocks else "needs_review")


def test_a_face_matching_nobody_carries_no_level():
    obama(AssuranceLevel.LIVENESS)
    result = result_of(Platform("Clip Share").check_file("people/biden/biden2.jpg"))
    assert result["verdict"] == "clear"
    assert all("assurance" not in face for face in result["faces"])


def consenting_studio(person, *, verified: bool = True) -> Platform:
    studio = Platform("Northern Pictures", kind="studio", verified=verified)
    grant_record(
        person=person,
        organisation=studio.organisation,
        purpose="Documentary reenactment",
        categories=["commercial"],
        media_types=["image", "video"],
        territory="worldwide",
    )
    return studio


@pytest.mark.parametrize(
    ("level", "verdict"),
    [
        (AssuranceLevel.SELF_ASSERTED, "needs_review"),
        (AssuranceLevel.EMAIL_VERIFIED, "needs_review"),
        (AssuranceLevel.LIVENESS, "consented"),
        (AssuranceLevel.VERIFIED, "consented"),
    ],
    ids=str,
)
def test_a_grant_from_a_person_below_liveness_never_yields_consented(level, verdict):
    studio = consenting_studio(obama(level))

    result = result_of(studio.check_file(OBAMA_ELSEWHERE))

    assert result["verdict"] == verdict
    (face,) = result["faces"]
    assert face["consent"]["status"] == ("consented" if verdict == "consented" else "not_consented")


def test_even_a_permissive_policy_does_not_let_a_low_level_grant_consent():
    studio = with_policy(consenting_studio(obama(AssuranceLevel.SELF_ASSERTED)), "self_asserted")
    result = result_of(studio.check_file(OBAMA_ELSEWHERE))
    # The opt-out now blocks (the studio trusts self-asserted opt-outs); the grant still does not
    # consent.
    assert result["verdict"] == "blocked"
    assert result["faces"][0]["consent"]["status"] == "not_consented"


def test_a_grant_to_an_unverified_studio_never_yields_consented():
    studio = consenting_studio(obama(AssuranceLevel.VERIFIED), verified=False)
    result = result_of(studio.check_file(OBAMA_ELSEWHERE))
    assert result["verdict"] == "blocked"
    assert result["faces"][0]["consent"] == {"status": "not_consented", "grant_record_id": None}


@pytest.mark.parametrize("level", LEVELS, ids=str)
def test_the_signed_receipt_carries_each_face_level(level, client):
    obama(level)
    platform = Platform("Clip Share")

    matched = result_of(platform.check_file(OBAMA_ELSEWHERE))
    clear = result_of(platform.check_file("people/rose_leslie/rose1.jpg"))

    keys = client.get("/.well-known/likeness-registry/keys.json").json()
    payload = verify_receipt(matched["receipt"], keys)
    assert payload["body"]["assurance"] == [level]
    assert matched["receipt"]["payload"]["body"]["verdict"] == matched["verdict"]
    assert clear["receipt"]["payload"]["body"]["assurance"] == [None] * clear["faces_found"]


def test_scan_json_match_entries_carry_the_level():
    person = obama(AssuranceLevel.EMAIL_VERIFIED)
    out = io.StringIO()
    call_command("scan", "--json", str(FACES / OBAMA_ELSEWHERE), stdout=out, stderr=io.StringIO())
    (line,) = [json.loads(text) for text in out.getvalue().splitlines()]
    (match,) = line["matches"]
    assert match["subject"] == person.public_id
    assert match["assurance"] == "email_verified"
    assert line["verdict"] == "needs_review"
