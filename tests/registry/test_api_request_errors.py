"""Every request error is a 4xx whose message a person understands: what was expected and what
was sent, for wrong types, absurd numbers, non-finite numbers and characters no URL can mean,
and never a server path or other internal detail."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from consent.services import consent_request_create
from tests.consent.records_factories import bearer, make_org, make_person, org_key, personal_token

pytestmark = pytest.mark.django_db


@pytest.fixture
def studio():
    organisation = make_org("studio")
    client = APIClient()
    client.credentials(
        **bearer(org_key(organisation, "consent:request", "consent:read", "checks:write"))
    )
    client.organisation = organisation
    return client


@pytest.fixture
def person():
    client = APIClient()
    client.credentials(**bearer(personal_token(make_person(), "consent:write", "profile:write")))
    return client


def error_of(response, status: int = 400) -> dict:
    assert response.status_code == status, response.content
    body = response.content.decode()
    for internal in ("Traceback", "/work/", "site-packages", ".py", "psycopg", "DataError"):
        assert internal not in body
    return response.json()["error"]


CONSENT_CHECK = {"person": "someone", "category": "entertainment"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {**CONSENT_CHECK, "category": ["entertainment"]},
            "category: expected a string, got a list.",
        ),
        ({**CONSENT_CHECK, "person": {"id": 1}}, "person: expected a string, got an object."),
        ({**CONSENT_CHECK, "category": True}, "category: expected a string, got true."),
        ({**CONSENT_CHECK, "date": 5}, "date: expected a date and time such as"),
        ([CONSENT_CHECK], "expected a JSON object, got a list."),
        ("entertainment", 'expected a JSON object, got the string "entertainment".'),
    ],
)
def test_a_value_of_the_wrong_type_says_what_was_expected_and_what_came(studio, body, message):
    error = error_of(studio.post("/api/v1/consent-checks", body, format="json"))
    assert error["message"].startswith(message)


def test_list_and_boolean_fields_name_the_wrong_type(studio, person):
    request = {
        "person": "someone",
        "purpose": "p",
        "categories": "entertainment",
        "media_types": [["video"]],
        "territory": "US",
    }
    error = error_of(studio.post("/api/v1/consent-requests", request, format="json"))
    assert error["message"] == 'categories: expected a list, got the string "entertainment".'
    assert error["detail"]["media_types"] == {"0": ["expected a string, got a list."]}
    error = error_of(person.patch("/api/v1/me", {"keep_photos": "maybe"}, format="json"))
    assert error["message"] == 'keep_photos: expected true or false, got the string "maybe".'
    error = error_of(person.post("/api/v1/me/consent/drafts", {"kind": ["optout"]}, format="json"))
    assert error["message"].startswith("kind: expected one of the allowed values")


def test_booleans_and_strings_are_not_numbers_in_query_parameters():
    client = APIClient()
    error = error_of(client.get("/api/v1/log/inclusion-proof?leaf_index=true&tree_size=1e400"))
    assert error["message"] == 'leaf_index: expected an integer, got the string "true".'
    assert error["detail"]["tree_size"] == ['expected an integer, got the string "1e400".']
    error = error_of(client.get(f"/api/v1/log/consistency-proof?first=1&second={10**30}"))
    assert error["message"].startswith("second: Ensure this value is less than or equal to")


def test_checks_name_wrong_types_absurd_boxes_and_non_finite_numbers(studio):
    def check(body):
        return studio.post("/api/v1/checks", body, format="json")

    vector = [0.01] * 128
    error = error_of(check({"category": ["commercial"], "embeddings": [vector]}))
    assert error["message"] == "category: expected a string, got a list."
    error = error_of(check({"category": "commercial", "embeddings": [[True] * 128]}))
    assert error["message"].startswith("embeddings: each must be 128 finite numbers")
    for box in ([10**40, 1, 2, 3], [1e300, 1, 2, 3], [True, 1, 2, 3], ["1", 2, 3, 4]):
        body = {"category": "commercial", "embeddings": [vector], "boxes": [box]}
        assert error_of(check(body))["message"].startswith("boxes:")
    overflow = {"category": "commercial", "embeddings": [[3.5e38] * 128]}
    assert error_of(check(overflow))["message"].startswith("embeddings:")
    for literal in ("NaN", "Infinity", "-Infinity", "1e400"):
        numbers = ", ".join([literal] + ["0.0"] * 127)
        raw = f'{{"category": "commercial", "embeddings": [[{numbers}]]}}'
        response = studio.post("/api/v1/checks", raw, content_type="application/json")
        assert 400 <= response.status_code < 500, literal
        error_of(response, response.status_code)


def test_absurd_limits_offsets_and_ids_are_answered_without_a_server_error(studio):
    target = make_person()
    for n in range(3):
        consent_request_create(
            organisation=studio.organisation,
            requested_by=None,
            person=target,
            purpose=f"use {n}",
            categories=["entertainment"],
            media_types=["video"],
            territory="US",
        )
    huge = 10**30
    page = studio.get(f"/api/v1/consent-requests?limit={huge}")
    assert page.status_code == 200 and len(page.json()["results"]) == 3
    assert studio.get("/api/v1/consent-requests?limit=1").json()["count"] == 3
    far = studio.get(f"/api/v1/consent-requests?limit=10&offset={huge}")
    assert far.status_code == 200 and far.json()["results"] == []
    for path in (f"/api/v1/checks/{huge}", f"/api/v1/log/entries/{huge}"):
        assert studio.get(path).status_code == 404


def test_a_nul_character_in_the_url_is_a_400(studio):
    for path in (
        "/api/v1/consent-records/rec%00x",
        "/api/v1/checks/abc%00",
        "/api/v1/consent-requests?limit=1%00",
        "/api/v1/consent-grants?x%00=1",
    ):
        error = error_of(studio.get(path))
        assert "NUL character" in error["message"]
