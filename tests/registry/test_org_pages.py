"""Organisation pages: creating one, the switcher, the overview, members and invitations, and
API keys, with the owner / member / other organisation's member / anonymous caller of each."""

from __future__ import annotations

import re

import pytest
from django.core import mail

from registry.models import ApiKey, AuditEvent, Invitation, Membership, Organisation
from tests.registry.org_world import PASSWORD, client_as, make_user, org_world

pytestmark = pytest.mark.django_db

CALLERS = ["owner", "member", "outsider", "anonymous"]


@pytest.fixture
def world():
    return org_world()


def _slug(world) -> str:
    return world.organisation.slug


# --- Who may see and do what ------------------------------------------------------------------

# (method, path template, expected status by caller). Anonymous callers are sent to sign in.
PAGES = [
    ("get", "/orgs/{slug}/", {"owner": 200, "member": 200}),
    ("get", "/orgs/{slug}/members/", {"owner": 200, "member": 200}),
    ("get", "/orgs/{slug}/keys/", {"owner": 200, "member": 403}),
    ("get", "/orgs/{slug}/keys/{key}/revoke/", {"owner": 200, "member": 403}),
    ("get", "/orgs/{slug}/members/{membership}/remove/", {"owner": 200, "member": 403}),
]


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(("method", "path", "expected"), PAGES)
def test_who_may_see_each_page(client, world, caller, method, path, expected):
    client_as(client, world, caller)
    url = path.format(slug=_slug(world), key=world.key.pk, membership=world.member_membership.pk)
    response = getattr(client, method)(url)
    if caller == "anonymous":
        assert response.status_code == 302 and response["Location"].startswith("/login/")
    elif caller == "outsider":
        assert response.status_code == 404
    else:
        assert response.status_code == expected[caller]
        if response.status_code == 403:
            assert "Only an owner" in response.content.decode()


def _state(world) -> dict:
    world.key.refresh_from_db()
    world.invitation.refresh_from_db()
    return {
        "members": sorted(Membership.objects.values_list("user_id", "role")),
        "invitations": Invitation.objects.count(),
        "invitation_pending": world.invitation.is_pending,
        "keys": ApiKey.objects.count(),
        "key_revoked": world.key.revoked_at is not None,
        "policy": Organisation.objects.get(pk=world.organisation.pk).block_min_assurance,
    }


# Every change an owner can make: (path, form data, what changes when an owner does it).
ACTIONS = [
    ("/orgs/{slug}/members/invite/", {"email": "x@example.org", "role": "member"}, "invitations"),
    ("/orgs/{slug}/members/{membership}/role/", {"role": "owner"}, "members"),
    ("/orgs/{slug}/members/{membership}/remove/", {}, "members"),
    ("/orgs/{slug}/invitations/{invitation}/cancel/", {}, "invitation_pending"),
    ("/orgs/{slug}/keys/", {"name": "ci", "scopes": ["checks:read"]}, "keys"),
    ("/orgs/{slug}/keys/{key}/rotate/", {}, "keys"),
    ("/orgs/{slug}/keys/{key}/revoke/", {}, "key_revoked"),
    ("/orgs/{slug}/policy/", {"block_min_assurance": "email_verified"}, "policy"),
]


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(("path", "data", "changes"), ACTIONS)
def test_only_owners_change_an_organisation(client, world, caller, path, data, changes):
    client_as(client, world, caller)
    url = path.format(
        slug=_slug(world),
        key=world.key.pk,
        membership=world.member_membership.pk,
        invitation=world.invitation.pk,
    )
    before = _state(world)
    response = client.post(url, data)
    after = _state(world)
    if caller == "owner":
        assert response.status_code in (200, 302)
        assert after[changes] != before[changes]
        return
    assert after == before
    if caller == "anonymous":
        assert response.status_code == 302 and response["Location"].startswith("/login/")
    else:
        assert response.status_code == {"member": 403, "outsider": 404}[caller]


# --- Organisations and the switcher -----------------------------------------------------------


def test_a_user_creates_an_organisation_that_starts_unverified(client):
    user = make_user("founder@example.org")
    client.force_login(user)
    page = client.get("/orgs/").content.decode()
    assert "You do not belong to any organisation yet" in page
    assert "verifier" not in re.findall(r'name="kind" value="(\w+)"', page)

    response = client.post("/orgs/", {"name": "Acme Video", "kind": "platform"})
    organisation = Organisation.objects.get(name="Acme Video")
    assert response.status_code == 302 and response["Location"] == f"/orgs/{organisation.slug}/"
    assert organisation.kind == "platform" and not organisation.is_verified
    assert Membership.objects.get(organisation=organisation).role == "owner"

    page = client.get(response["Location"]).content.decode()
    assert "Unverified" in page and "do not count as consent" in page
    assert f'href="/orgs/{organisation.slug}/checks/"' in page
    assert f'href="/orgs/{organisation.slug}/review/"' in page
    assert "/consent/" not in page.split("<main>")[1]


def test_creating_a_verifier_or_a_nameless_organisation_is_refused(client):
    client.force_login(make_user("founder@example.org"))
    response = client.post("/orgs/", {"name": "Fake Verifier", "kind": "verifier"})
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    response = client.post("/orgs/", {"name": "  ", "kind": "studio"})
    assert response.status_code == 200 and "This field is required" in response.content.decode()
    assert not Organisation.objects.exists()


def test_a_studio_overview_links_to_its_consent_desk(client):
    world = org_world(kind="studio")
    client.force_login(world.member)
    page = client.get(f"/orgs/{world.organisation.slug}/").content.decode()
    assert f'href="/studio/{world.organisation.slug}/consent/"' in page
    assert "/checks/" not in page
    # Members are not offered the owners' pages.
    assert "/keys/" not in page and "/webhooks/" not in page


def test_the_header_switches_between_organisations(client, world):
    from registry.services import membership_add

    membership_add(organisation=world.other, user=world.owner, role="member")
    client.force_login(world.owner)
    page = client.get("/orgs/").content.decode()
    assert 'id="org-switcher"' in page
    current = re.search(r'id="current-org"[^>]*>([^<]+)<', page).group(1)
    assert current in {"Acme Video", "Other Platform"}

    response = client.post("/switch-organisation/", {"organisation": world.other.slug})
    assert response.status_code == 302 and response["Location"] == f"/orgs/{world.other.slug}/"
    page = client.get("/me/tokens/").content.decode()
    assert re.search(r'id="current-org"[^>]*>Other Platform<', page)
    assert f'<option value="{world.organisation.slug}">Acme Video</option>' in page

    # Visiting an organisation's page makes it the current one.
    client.get(f"/orgs/{world.organisation.slug}/")
    page = client.get("/me/tokens/").content.decode()
    assert re.search(r'id="current-org"[^>]*>Acme Video<', page)

    # Nobody switches into an organisation they do not belong to.
    stranger = Organisation.objects.create(name="Stranger", slug="stranger", kind="platform")
    response = client.post("/switch-organisation/", {"organisation": stranger.slug})
    assert response.status_code == 404


def test_users_without_organisations_see_no_switcher(client):
    client.force_login(make_user("solo@example.org"))
    assert 'id="org-switcher"' not in client.get("/me/tokens/").content.decode()


# --- Members and invitations ------------------------------------------------------------------


def test_an_invitation_brings_an_existing_account_in(client, world, settings):
    settings.SITE_URL = "http://wrong.invalid"
    existing = make_user("existing@example.org")
    client.force_login(world.owner)
    response = client.post(
        f"/orgs/{_slug(world)}/members/invite/",
        {"email": "Existing@Example.org", "role": "owner"},
        HTTP_HOST="testserver",
    )
    assert response.status_code == 302
    message = mail.outbox[-1]
    assert message.to == ["existing@example.org"] and "Acme Video" in message.subject
    link = re.search(r"https?://\S+/invitations/\S+/", message.body).group(0)
    assert link.startswith("http://testserver/")  # the address the site was reached on
    page = client.get(f"/orgs/{_slug(world)}/members/").content.decode()
    assert "existing@example.org" in page and "Cancel invitation" in page

    # Only the invited address can accept.
    path = link[link.index("/invitations/") :]
    client.force_login(world.outsider)
    page = client.get(path).content.decode()
    assert "another email address" in page and 'id="invitation-accept"' not in page
    assert client.post(path).status_code == 403
    assert not Membership.objects.filter(user=world.outsider, organisation=world.organisation)

    client.force_login(existing)
    assert 'id="invitation-accept"' in client.get(path).content.decode()
    response = client.post(path)
    assert response.status_code == 302 and response["Location"] == f"/orgs/{_slug(world)}/"
    assert Membership.objects.get(user=existing, organisation=world.organisation).role == "owner"
    # The link works once.
    assert client.get(path).status_code == 404


def test_a_new_address_signs_up_then_joins(client, world):
    client.force_login(world.owner)
    client.post(
        f"/orgs/{_slug(world)}/members/invite/", {"email": "fresh@example.org", "role": "member"}
    )
    client.logout()
    link = re.search(r"https?://\S+/invitations/\S+/", mail.outbox[-1].body).group(0)
    path = link[link.index("/invitations/") :]
    page = client.get(path).content.decode()
    assert "Join Acme Video" in page and f'/signup/?next={path}"' in page

    response = client.post(
        f"/signup/?next={path}",
        {
            "display_name": "Fresh Face",
            "email": "fresh@example.org",
            "password": PASSWORD,
            "password_again": PASSWORD,
            "next": path,
        },
    )
    assert response.status_code == 302 and response["Location"] == path
    assert client.post(path).status_code == 302
    assert Membership.objects.get(user__email="fresh@example.org").role == "member"


def test_a_signup_next_outside_the_site_is_ignored(client):
    response = client.post(
        "/signup/",
        {
            "display_name": "Pat",
            "email": "pat@example.org",
            "password": PASSWORD,
            "password_again": PASSWORD,
            "next": "https://evil.example.com/",
        },
    )
    assert response.status_code == 302 and response["Location"] == "/me/"


def test_inviting_twice_or_a_member_or_a_bad_address_says_why(client, world):
    client.force_login(world.owner)
    url = f"/orgs/{_slug(world)}/members/invite/"
    for email, message in [
        ("newcomer@example.org", "already has an invitation waiting"),
        ("member@example.org", "already belongs to a member"),
        ("not-an-address", "Enter a valid email address"),
    ]:
        response = client.post(url, {"email": email, "role": "member"})
        assert response.status_code == 400
        assert message in response.content.decode()
    assert Invitation.objects.count() == 1


def test_a_cancelled_invitation_link_stops_working(client, world):
    client.force_login(world.owner)
    client.post(
        f"/orgs/{_slug(world)}/members/invite/", {"email": "z@example.org", "role": "member"}
    )
    link = re.search(r"https?://\S+/invitations/\S+/", mail.outbox[-1].body).group(0)
    path = link[link.index("/invitations/") :]
    invitation = Invitation.objects.get(email="z@example.org")
    client.post(f"/orgs/{_slug(world)}/invitations/{invitation.pk}/cancel/")
    response = client.get(path)
    assert response.status_code == 404 and "was cancelled" in response.content.decode()
    assert client.get("/invitations/forged-token/").status_code == 404


def test_owners_change_roles_but_never_leave_the_organisation_without_an_owner(client, world):
    client.force_login(world.owner)
    owner_membership = Membership.objects.get(user=world.owner, organisation=world.organisation)
    base = f"/orgs/{_slug(world)}/members/{owner_membership.pk}"
    page = client.get(f"/orgs/{_slug(world)}/members/").content.decode()
    assert f'href="{base}/remove/"' not in page and "the only owner" in page

    response = client.post(f"{base}/role/", {"role": "member"}, follow=True)
    assert "at least one owner" in response.content.decode()
    response = client.post(f"{base}/remove/", follow=True)
    assert "last owner cannot be removed" in response.content.decode()
    owner_membership.refresh_from_db()
    assert owner_membership.role == "owner"

    # With a second owner, the first may step down.
    client.post(
        f"/orgs/{_slug(world)}/members/{world.member_membership.pk}/role/", {"role": "owner"}
    )
    client.post(f"{base}/role/", {"role": "member"})
    owner_membership.refresh_from_db()
    assert owner_membership.role == "member"
    assert client.get(f"/orgs/{_slug(world)}/keys/").status_code == 403
    # Audit events name ids and roles, never the address.
    for event in AuditEvent.objects.filter(action__startswith="membership"):
        assert "@" not in str(event.metadata)


def test_members_see_the_list_without_the_controls(client, world):
    client.force_login(world.member)
    page = client.get(f"/orgs/{_slug(world)}/members/").content.decode()
    assert "owner@example.org" in page and "member@example.org" in page
    assert "Set role" not in page and "invite-form" not in page
    assert "newcomer@example.org" not in page  # pending invitations are the owners' business


def test_removing_a_member_takes_their_access_away(client, world):
    client.force_login(world.owner)
    url = f"/orgs/{_slug(world)}/members/{world.member_membership.pk}/remove/"
    assert "Remove member@example.org" in client.get(url).content.decode()
    assert client.post(url).status_code == 302
    client.force_login(world.member)
    assert client.get(f"/orgs/{_slug(world)}/").status_code == 404


def test_another_organisations_member_cannot_be_touched(client, world):
    client.force_login(world.owner)
    theirs = Membership.objects.get(user=world.outsider)
    response = client.post(f"/orgs/{_slug(world)}/members/{theirs.pk}/remove/")
    assert response.status_code == 404
    assert Membership.objects.filter(pk=theirs.pk).exists()


# --- API keys ---------------------------------------------------------------------------------


def test_the_key_page_explains_scopes_and_shows_a_new_secret_once(client, world):
    client.force_login(world.owner)
    url = f"/orgs/{_slug(world)}/keys/"
    page = client.get(url).content.decode()
    picker = re.search(r'<ul class="choices" id="scope-picker">(.*?)</ul>', page, re.S).group(1)
    assert "checks:write" in picker and "Submit media checks" in picker
    assert "attest:write" not in picker  # platforms are not verifiers
    assert "organisation:manage" not in picker  # never held by a key

    response = client.post(url, {"name": "ci", "scopes": ["checks:read", "checks:write"]})
    page = response.content.decode()
    secret = re.search(r'id="new-key-secret" value="([^"]+)"', page).group(1)
    assert secret.startswith("lr_") and "will not be shown again" in page
    key = ApiKey.objects.get(name="ci")
    assert key.scopes == ["checks:read", "checks:write"]
    assert secret not in client.get(url).content.decode()

    api = client_for_key(secret)
    assert api.get("/api/v1/organisations").json()[0]["slug"] == _slug(world)


def client_for_key(secret: str):
    from rest_framework.test import APIClient

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return api


def test_a_key_with_no_scope_or_a_session_scope_is_refused(client, world):
    client.force_login(world.owner)
    url = f"/orgs/{_slug(world)}/keys/"
    response = client.post(url, {"name": "none"})
    assert response.status_code == 400 and "This field is required" in response.content.decode()
    response = client.post(url, {"name": "admin", "scopes": ["organisation:manage"]})
    assert response.status_code == 400 and "Select a valid choice" in response.content.decode()
    assert ApiKey.objects.count() == 1


def test_rotating_a_key_revokes_the_old_secret(client, world):
    from registry.services import api_key_create

    _old, old_secret = api_key_create(
        organisation=world.organisation, name="rotating", scopes=["checks:read"], created_by=None
    )
    client.force_login(world.owner)
    response = client.post(f"/orgs/{_slug(world)}/keys/{_old.pk}/rotate/")
    page = response.content.decode()
    new_secret = re.search(r'id="new-key-secret" value="([^"]+)"', page).group(1)
    assert "previous secret is revoked" in page
    assert client_for_key(old_secret).get("/api/v1/organisations").status_code == 401
    assert client_for_key(new_secret).get("/api/v1/organisations").status_code == 200
    new = ApiKey.objects.get(revoked_at__isnull=True, name="rotating")
    assert new.scopes == ["checks:read"]
    # A revoked key cannot be rotated back to life.
    response = client.post(f"/orgs/{_slug(world)}/keys/{_old.pk}/rotate/", follow=True)
    assert "This key is revoked" in response.content.decode()


def test_revoking_asks_first_and_then_refuses_the_key(client, world):
    from registry.services import api_key_create

    key, secret = api_key_create(
        organisation=world.organisation, name="gone", scopes=["checks:read"], created_by=None
    )
    client.force_login(world.owner)
    url = f"/orgs/{_slug(world)}/keys/{key.pk}/revoke/"
    page = client.get(url).content.decode()
    assert "Revoke the key “gone”" in page and "cannot be undone" in page
    assert client_for_key(secret).get("/api/v1/organisations").status_code == 200
    assert client.post(url).status_code == 302
    assert client_for_key(secret).get("/api/v1/organisations").status_code == 401
    page = client.get(f"/orgs/{_slug(world)}/keys/").content.decode()
    assert "revoked" in page


def test_another_organisations_key_is_not_found(client, world):
    from registry.services import api_key_create

    theirs, _ = api_key_create(
        organisation=world.other, name="theirs", scopes=["checks:read"], created_by=None
    )
    client.force_login(world.owner)
    assert client.post(f"/orgs/{_slug(world)}/keys/{theirs.pk}/revoke/").status_code == 404
    assert client.post(f"/orgs/{_slug(world)}/keys/{theirs.pk}/rotate/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.revoked_at is None


def test_a_platform_owner_sets_the_blocking_policy_on_the_overview(client, world):
    client_as(client, world, "owner")
    page = client.get(f"/orgs/{_slug(world)}/").content.decode()
    assert 'id="policy"' in page and '<option value="liveness" selected>' in page
    done = client.post(
        f"/orgs/{_slug(world)}/policy/", {"block_min_assurance": "verified"}, follow=True
    )
    assert "Policy saved" in done.content.decode()
    assert Organisation.objects.get(pk=world.organisation.pk).block_min_assurance == "verified"
    assert AuditEvent.objects.filter(action="organisation.policy").exists()
    refused = client.post(
        f"/orgs/{_slug(world)}/policy/", {"block_min_assurance": "anyone"}, follow=True
    )
    assert "use one of self_asserted" in refused.content.decode()
    client_as(client, world, "member")
    assert 'id="policy-level"' in client.get(f"/orgs/{_slug(world)}/").content.decode()
