"""POST /api/v1/consent-checks: the five answers, the deciding grant and a receipt that verifies."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from consent import services
from consent.lib.receipts import ReceiptInvalid, verify_receipt
from consent.models import ConsentCheck, PersonCheckedBy
from tests.consent.records_factories import bearer, make_org, make_person, org_key

pytestmark = pytest.mark.django_db
REPO_ROOT = Path(__file__).resolve().parents[2]
URL = "/api/v1/consent-checks"
ZERO_HASH = "A" * 43 + "="


@pytest.fixture
def setting():
    person = make_person(handle="lovelace")
    studio = make_org("studio")
    client = APIClient()
    client.credentials(**bearer(org_key(studio, "consent:read")))
    return person, studio, client


def grant(person, studio, **overrides):
    terms = {
        "purpose": "Ada narrates the 2027 documentary trailer",
        "categories": ["entertainment"],
        "media_types": ["video", "audio"],
        "territory": "worldwide",
        "project_ref": "DOC-27",
    }
    terms.update(overrides)
    return services.grant_record(person=person, organisation=studio, **terms)


def check(client, **overrides):
    body = {
        "person": "lovelace",
        "category": "entertainment",
        "media_type": "video",
        "territory": "GB",
    }
    body.update(overrides)
    response = client.post(URL, body, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def keys_json() -> dict:
    return APIClient().get("/.well-known/likeness-registry/keys.json").json()


def test_consented_names_the_grant_and_the_receipt_verifies(setting):
    person, studio, client = setting
    record = grant(person, studio)
    answer = check(client)
    assert answer["result"] == "consented"
    assert answer["decided_by"] == record.record_id
    assert answer["grant"]["record_id"] == record.record_id
    assert answer["grant"]["purpose"] == "Ada narrates the 2027 documentary trailer"
    payload = verify_receipt(answer["receipt"], keys_json())
    assert payload["result"] == "consented"
    assert payload["decided_by"] == record.record_id
    assert payload["checker"] == studio.slug
    # The handle is made of letters that hex ids and digests cannot contain, so a match here
    # can only be the handle itself.
    receipt = json.dumps(answer["receipt"])
    for personal in (person.handle, person.public_id, person.display_name, person.user.email):
        assert personal not in receipt
    assert "narrates" not in receipt
    assert ConsentCheck.objects.get(check_id=answer["check_id"]).result == "consented"


def test_not_consented_without_a_covering_grant(setting):
    person, studio, client = setting
    grant(person, studio, territory="FR")
    grant(person, make_org("studio"))  # another studio's grant is not this studio's
    answer = check(client)
    assert answer["result"] == "not_consented"
    assert answer["grant"] is None and answer["decided_by"] is None
    assert check(client, category="political")["result"] == "not_consented"
    assert check(client, media_type="image")["result"] == "not_consented"
    verify_receipt(answer["receipt"], keys_json())


def test_revoked_after_the_person_revokes(setting):
    person, studio, client = setting
    record = grant(person, studio)
    services.record_revoke(record=record)
    answer = check(client)
    assert answer["result"] == "revoked"
    assert answer["decided_by"] == record.record_id
    assert answer["grant"]["revoked_at"] is not None
    verify_receipt(answer["receipt"], keys_json())


def test_expired_after_the_validity_window(setting):
    person, studio, client = setting
    now = timezone.now()
    grant(person, studio, valid_from=now - timedelta(days=10), valid_until=now + timedelta(days=1))
    assert check(client)["result"] == "consented"
    later = (now + timedelta(days=2)).isoformat()
    assert check(client, date=later)["result"] == "expired"


def test_opted_out_when_the_person_refuses_the_category(setting):
    person, _, client = setting
    optout = services.optout_record(person=person, categories=["entertainment"])
    answer = check(client)
    assert answer["result"] == "opted_out"
    assert answer["decided_by"] == optout.record_id
    assert answer["grant"] is None
    payload = verify_receipt(answer["receipt"], keys_json())
    assert payload["decided_by"] == optout.record_id


def test_a_later_optout_overrides_an_earlier_grant_and_a_later_grant_wins_over_an_optout(setting):
    person, studio, client = setting
    grant(person, studio)
    services.optout_record(person=person, categories=None)
    assert check(client)["result"] == "opted_out"
    newer = grant(person, studio)
    answer = check(client)
    assert answer["result"] == "consented"
    assert answer["decided_by"] == newer.record_id


def test_a_check_remembers_who_checked_for_opt_out_webhooks(setting):
    person, studio, client = setting
    check(client)
    assert PersonCheckedBy.objects.filter(person=person, organisation=studio).exists()


def test_tampered_receipts_fail_offline_verification(setting):
    person, studio, client = setting
    grant(person, studio)
    receipt = check(client)["receipt"]
    keys = keys_json()
    verify_receipt(receipt, keys)

    def tampered(mutate) -> dict:
        copy = json.loads(json.dumps(receipt))
        mutate(copy)
        return copy

    def flip_signature(copy):
        sig = copy["envelope"]["signatures"][0]["sig"]
        copy["envelope"]["signatures"][0]["sig"] = ("A" if sig[0] != "A" else "B") + sig[1:]

    mutations = [
        lambda c: c["envelope"]["payload"].update(result="not_consented"),
        flip_signature,
        lambda c: c["tree_head"].update(tree_size=c["tree_head"]["tree_size"] + 1),
        lambda c: c["inclusion_proof"]["proof"].__setitem__(0, ZERO_HASH),
        lambda c: c["inclusion_proof"]["proof"].append(ZERO_HASH),
        lambda c: c["inclusion_proof"].update(leafIdx=c["inclusion_proof"]["leafIdx"] + 1),
        lambda c: c["related"].clear(),
        lambda c: c["related"][0]["envelope"]["payload"].update(territory="FR"),
    ]
    for mutate in mutations:
        with pytest.raises(ReceiptInvalid):
            verify_receipt(tampered(mutate), keys)


def test_a_receipt_verifies_in_a_fresh_process_with_only_the_receipt_and_keys_json(
    setting, tmp_path
):
    person, studio, client = setting
    grant(person, studio)
    receipt = check(client)["receipt"]
    (tmp_path / "receipt.json").write_text(json.dumps(receipt))
    (tmp_path / "keys.json").write_text(json.dumps(keys_json()))
    (tmp_path / "forged.json").write_text(
        json.dumps(receipt).replace('"consented"', '"not_consented"')
    )
    script = (
        "import sys\n"
        "from consent.lib.receipts import main\n"
        "code = main(sys.argv[1:])\n"
        # Importing the registry package loads Celery (and Celery peeks at django.conf), but
        # nothing may reach for a database or configure Django.
        "banned = ('django.db', 'django.apps', 'psycopg')\n"
        "loaded = [m for m in sys.modules if m.startswith(banned)]\n"
        "assert not loaded, loaded\n"
        "sys.exit(code)\n"
    )
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE", "PYTHONPATH")
    }
    env["PYTHONPATH"] = str(REPO_ROOT)

    def run(receipt_file: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-c", script, receipt_file, "keys.json"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    good = run("receipt.json")
    assert good.returncode == 0, good.stdout + good.stderr
    assert good.stdout.startswith("VALID:") and "consented" in good.stdout
    forged = run("forged.json")
    assert forged.returncode == 1, forged.stdout + forged.stderr
    assert forged.stdout.startswith("INVALID:")


def test_checks_need_an_organisation_key_with_consent_read(setting):
    _, studio, _ = setting
    anonymous = APIClient().post(
        URL, {"person": "lovelace", "category": "commercial"}, format="json"
    )
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "not_authenticated"
    wrong_scope = APIClient()
    wrong_scope.credentials(**bearer(org_key(studio, "consent:request")))
    denied = wrong_scope.post(URL, {"person": "lovelace", "category": "commercial"}, format="json")
    assert denied.status_code == 403


def test_unknown_person_and_bad_vocabulary_are_clear_errors(setting):
    _, _, client = setting
    unknown = client.post(URL, {"person": "nobody", "category": "commercial"}, format="json")
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "unknown_person"
    bad = client.post(URL, {"person": "lovelace", "category": "gaming"}, format="json")
    assert bad.status_code == 400
    assert "gaming" in bad.json()["error"]["message"]


def test_consent_is_not_retroactive_unless_the_grant_says_so(setting):
    person, studio, client = setting
    grant(person, studio)
    last_year = (timezone.now() - timedelta(days=365)).isoformat()
    assert check(client, date=last_year)["result"] == "not_consented"
    grant(person, studio, valid_from=timezone.now() - timedelta(days=400))
    assert check(client, date=last_year)["result"] == "consented"


def test_the_batch_read_for_media_checks_decides_like_the_single_one():
    """people_consent (one read for every person a media check matched) gives each person the
    same decision as consent_decision, and their oldest covering opt-out."""
    from consent import selectors

    studio, other = make_org("studio"), make_org("studio", "Other Studio")
    granted, overridden, revoked, opted, nobody = (make_person() for _ in range(5))
    grant(granted, studio)
    grant(overridden, studio)
    services.optout_record(person=overridden, categories=["entertainment"])
    services.record_revoke(record=grant(revoked, studio))
    first = services.optout_record(person=opted, categories=["entertainment"])
    services.optout_record(person=opted, categories=None)  # broader: a new record
    grant(nobody, other)
    people = [granted, overridden, revoked, opted, nobody]
    now = timezone.now()
    terms = {"category": "entertainment", "media_type": "video", "territory": None, "at": now}
    batch = selectors.people_consent(
        person_ids=[p.pk for p in people], organisation_id=studio.pk, **terms
    )
    results = {}
    for person in people:
        single = selectors.consent_decision(person_id=person.pk, organisation_id=studio.pk, **terms)
        assert batch[person.pk].decision == single
        results[person] = single.result
    assert results == {
        granted: "consented",
        overridden: "opted_out",
        revoked: "revoked",
        opted: "opted_out",
        nobody: "not_consented",
    }
    assert batch[opted.pk].optout.record_id == first.record_id
    assert batch[granted.pk].optout is None


def test_the_answer_reports_the_persons_assurance_and_min_assurance_raises_the_bar(setting):
    from registry.models import AssuranceLevel

    person, studio, client = setting
    grant(person, studio)
    answer = check(client)
    assert answer["assurance"] == person.assurance
    assert answer["result"] == "consented"
    if person.assurance != AssuranceLevel.VERIFIED:
        # A studio that wants an identity checked by a verifier does not accept this grant.
        stricter = check(client, min_assurance="verified")
        assert stricter["result"] == "not_consented"
        assert stricter["assurance"] == person.assurance
    refused = client.post(
        URL,
        {"person": "lovelace", "category": "entertainment", "min_assurance": "very_high"},
        format="json",
    )
    assert refused.status_code == 400
