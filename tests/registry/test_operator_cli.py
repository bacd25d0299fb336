"""``manage.py organisation_create`` and ``manage.py apikey_create``: one JSON line each, a key
that works against the API, and a clear error with a non-zero exit for bad input."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from registry.models import ApiKey, Membership, MembershipRole, Organisation, Person, User

pytestmark = pytest.mark.django_db


def run(command: str, *args: str) -> dict:
    out = StringIO()
    call_command(command, *args, stdout=out)
    lines = out.getvalue().splitlines()
    assert len(lines) == 1, out.getvalue()
    return json.loads(lines[0])


def create_organisation(name="Pixel Platform", kind="platform", email="ops@example.org") -> dict:
    return run("organisation_create", "--name", name, "--kind", kind, "--owner-email", email)


def test_organisation_create_makes_the_organisation_and_an_owner_account_without_a_person():
    line = create_organisation(email="Ops@Example.org")
    assert line == {
        "organisation": "pixel-platform",
        "name": "Pixel Platform",
        "kind": "platform",
        "owner": "ops@example.org",
        "verification": "unverified",
    }
    owner = User.objects.get(email="ops@example.org")
    assert not owner.has_usable_password()
    assert not Person.objects.filter(user=owner).exists()
    membership = Membership.objects.get(organisation__slug="pixel-platform")
    assert membership.user == owner and membership.role == MembershipRole.OWNER


def test_organisation_create_reuses_an_existing_account_whatever_the_case():
    existing = User.objects.create_user("studio.head@example.org", "a long passphrase")
    line = create_organisation("Moon Studio", "studio", "STUDIO.HEAD@example.org")
    assert line["owner"] == "studio.head@example.org"
    assert User.objects.count() == 1
    assert existing.check_password("a long passphrase")
    assert Membership.objects.get(organisation__slug=line["organisation"]).user == existing


def test_a_second_organisation_of_the_same_name_gets_its_own_slug():
    first = create_organisation()
    second = create_organisation()
    assert first["organisation"] != second["organisation"]
    assert second["organisation"].startswith("pixel-platform-")
    assert Organisation.objects.filter(name="Pixel Platform").count() == 2


@pytest.mark.parametrize(
    ("name", "kind", "email", "message"),
    [
        ("Acme", "broadcaster", "a@example.org", "Unknown organisation kind 'broadcaster'"),
        ("Acme", "studio", "not-an-email", "not a valid email address"),
        ("   ", "studio", "a@example.org", "needs a name"),
    ],
)
def test_organisation_create_refuses_bad_input_with_a_clear_message(name, kind, email, message):
    with pytest.raises(CommandError, match=message):
        create_organisation(name, kind, email)
    assert not Organisation.objects.exists()
    assert not User.objects.exists()


def test_a_cli_key_authenticates_against_the_api_with_its_scopes(client):
    slug = create_organisation()["organisation"]
    line = run(
        "apikey_create",
        "--organisation",
        slug,
        "--scopes",
        "checks:write, checks:read",
        "--name",
        "ci",
    )
    key = ApiKey.objects.get(pk=line["id"])
    assert line["scopes"] == ["checks:read", "checks:write"] == key.scopes
    assert key.name == "ci" and key.organisation.slug == slug
    assert line["key"].split("_")[1] == key.prefix

    answer = client.get(f"/api/v1/organisations/{slug}", HTTP_AUTHORIZATION=f"Bearer {line['key']}")
    assert answer.status_code == 200, answer.content
    assert answer.json()["slug"] == slug

    forged = client.get(f"/api/v1/organisations/{slug}", HTTP_AUTHORIZATION="Bearer nope")
    assert forged.status_code == 401


def test_apikey_create_refuses_an_unknown_organisation():
    with pytest.raises(CommandError, match="No organisation with the slug 'nobody'"):
        run("apikey_create", "--organisation", "nobody", "--scopes", "checks:write")


@pytest.mark.parametrize(
    ("scopes", "message"),
    [
        ("checks:write,checks:everything", "checks:everything"),
        ("organisation:manage", "held by signed-in sessions or implied, never granted to a key"),
        ("organisation:read", "held by signed-in sessions or implied"),
        ("profile:read", "Unknown or not allowed scope"),
        (" , ", "at least one scope"),
    ],
)
def test_apikey_create_refuses_unknown_and_session_only_scopes(scopes, message):
    slug = create_organisation()["organisation"]
    with pytest.raises(CommandError, match=message):
        run("apikey_create", "--organisation", slug, "--scopes", scopes)
    assert not ApiKey.objects.exists()
