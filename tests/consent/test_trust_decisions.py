"""Who a grant can be trusted from: a verified organisation, a person at ``liveness`` or above.

A grant that fails either is still recorded, but every decision (``consent_decision``,
``people_consent``, ``consent_check``) answers not_consented, with the reason, until it holds.
"""

from __future__ import annotations

import pytest
from django.utils import timezone

from consent import selectors, services
from consent.models import ConsentCheck, Record
from registry.lib.errors import ValidationFailed
from registry.models import AssuranceLevel
from tests.consent.records_factories import make_org, make_person
from tests.trust import organisation_verified, person_assured

pytestmark = pytest.mark.django_db


def a_grant(person, studio) -> Record:
    return services.grant_record(
        person=person,
        organisation=studio,
        purpose="A cameo in the film",
        categories=["entertainment"],
        media_types=["video"],
        territory="worldwide",
    )


def decision(person, studio, **extra):
    return selectors.consent_decision(
        person_id=person.pk,
        organisation_id=studio.pk,
        category="entertainment",
        media_type="video",
        territory="GB",
        at=timezone.now(),
        **extra,
    )


def platform_view(person, studio):
    return selectors.people_consent(
        person_ids=[person.pk],
        organisation_id=studio.pk,
        category="entertainment",
        media_type="video",
        territory=None,
        at=timezone.now(),
    )[person.pk]


def checked(person, studio, **extra):
    return services.consent_check(
        organisation=studio, person=person, category="entertainment", media_type="video", **extra
    )


def test_a_grant_to_an_unverified_organisation_is_recorded_but_does_not_consent():
    person = person_assured(make_person(), AssuranceLevel.LIVENESS)
    studio = make_org("studio", name="Warner Bros. Pictures", verified=False)
    grant = a_grant(person, studio)
    assert Record.objects.filter(pk=grant.pk, revoked_at=None).exists()

    refused = decision(person, studio)
    assert (refused.result, refused.record, refused.reason) == (
        "not_consented",
        None,
        "organisation_unverified",
    )
    assert platform_view(person, studio).decision.result == "not_consented"
    check, receipt = checked(person, studio)
    assert check.result == "not_consented"
    assert receipt["envelope"]["payload"]["reason"] == "organisation_unverified"
    assert receipt["envelope"]["payload"]["decided_by"] is None

    # Once an operator verifies the organisation, the same grant consents everywhere.
    organisation_verified(studio)
    assert decision(person, studio).record == grant
    assert platform_view(person, studio).decision.result == "consented"
    assert checked(person, studio)[0].result == "consented"


@pytest.mark.parametrize(
    "level", [AssuranceLevel.SELF_ASSERTED, AssuranceLevel.EMAIL_VERIFIED], ids=str
)
def test_a_grant_from_a_person_below_liveness_never_consents(level):
    person = person_assured(make_person(), level)
    studio = make_org("studio")
    a_grant(person, studio)

    assert decision(person, studio).reason == "assurance_too_low"
    assert decision(person, studio).result == "not_consented"
    assert platform_view(person, studio).decision.result == "not_consented"
    assert platform_view(person, studio).assurance == level
    # Not even when the studio asks for less.
    check, receipt = checked(person, studio, min_assurance=AssuranceLevel.SELF_ASSERTED)
    assert check.result == "not_consented" and check.assurance == level
    payload = receipt["envelope"]["payload"]
    assert payload["assurance"] == level and payload["reason"] == "assurance_too_low"


@pytest.mark.parametrize("level", [AssuranceLevel.LIVENESS, AssuranceLevel.VERIFIED], ids=str)
def test_a_grant_from_a_person_at_liveness_or_above_consents(level):
    person = person_assured(make_person(), level)
    studio = make_org("studio")
    grant = a_grant(person, studio)

    assert decision(person, studio).record == grant
    check, receipt = checked(person, studio)
    assert check.result == "consented" and check.decided_by == grant
    assert check.assurance == level
    payload = receipt["envelope"]["payload"]
    assert payload["assurance"] == level and "reason" not in payload


def test_a_studio_can_demand_a_higher_level_with_min_assurance():
    liveness = person_assured(make_person(), AssuranceLevel.LIVENESS)
    verified = person_assured(make_person(), AssuranceLevel.VERIFIED)
    studio = make_org("studio")
    a_grant(liveness, studio)
    a_grant(verified, studio)

    check, receipt = checked(liveness, studio, min_assurance="verified")
    assert check.result == "not_consented"
    assert receipt["envelope"]["payload"]["min_assurance"] == "verified"
    assert receipt["envelope"]["payload"]["reason"] == "assurance_too_low"
    assert checked(verified, studio, min_assurance="verified")[0].result == "consented"
    assert checked(liveness, studio, min_assurance="liveness")[0].result == "consented"


def test_an_unknown_min_assurance_is_refused():
    person = make_person()
    studio = make_org("studio")
    with pytest.raises(ValidationFailed):
        checked(person, studio, min_assurance="passport")
    assert not ConsentCheck.objects.exists()


def test_an_opt_out_still_answers_opted_out_whoever_the_organisation_is():
    person = person_assured(make_person(), AssuranceLevel.SELF_ASSERTED)
    studio = make_org("studio", verified=False)
    a_grant(person, studio)
    services.optout_record(person=person, categories=None)
    assert decision(person, studio).result == "opted_out"
    assert checked(person, studio)[0].result == "opted_out"
