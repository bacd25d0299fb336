"""Reads of the registry app: template keys, and a person's or an account's own rows.

``current_template_key_version`` and ``template_key`` read the template keys from settings
(``TEMPLATE_KEYS``; the keys never live in the database). The rest are the plain reads pages and
the API show: a person's templates and attestations, an account's organisations and role, a
person by public id.
"""

from __future__ import annotations

from django.conf import settings

from registry.models import ApiKey, FaceTemplate, Invitation, Membership, Organisation, Person

# --- Template keys --------------------------------------------------------------------------


def current_template_key_version() -> int:
    """The template key new templates are protected with: the highest version configured."""
    return max(settings.TEMPLATE_KEYS)


def template_key(version: int) -> bytes:
    """The secret template key of ``version`` (KeyError when it is not configured)."""
    try:
        return settings.TEMPLATE_KEYS[int(version)]
    except KeyError:
        raise KeyError(f"template key version {version} is not configured") from None


# --- People and organisations -----------------------------------------------------------------


def person_templates(*, person) -> list:
    return list(
        FaceTemplate.objects.filter(person=person)
        .select_related("photo")
        .defer("embedding")
        .order_by("created_at", "pk")
    )


def person_attestations(*, person) -> list:
    return list(person.attestations.select_related("verifier").order_by("-attested_at"))


def organisations_for_user(*, user) -> list:
    return list(Organisation.objects.filter(memberships__user=user).order_by("name"))


def membership_role(*, organisation, user) -> str | None:
    if user is None or not getattr(user, "pk", None):
        return None
    return (
        Membership.objects.filter(organisation=organisation, user=user)
        .values_list("role", flat=True)
        .first()
    )


def person_by_public_id(*, public_id: str):
    return Person.objects.filter(public_id=public_id).first()


def user_memberships(*, user) -> list:
    """The account's memberships of organisations that are not suspended, by organisation name."""
    if user is None or not getattr(user, "pk", None):
        return []
    return list(
        Membership.objects.select_related("organisation")
        .filter(user=user, organisation__suspended_at__isnull=True)
        .order_by("organisation__name", "organisation__pk")
    )


def organisation_members(*, organisation) -> list:
    return list(
        organisation.memberships.select_related("user").order_by("-role", "created_at", "pk")
    )


def organisation_invitations_pending(*, organisation) -> list:
    return list(
        Invitation.objects.filter(
            organisation=organisation, accepted_at__isnull=True, cancelled_at__isnull=True
        ).order_by("-created_at")
    )


def organisation_keys(*, organisation) -> list:
    """The organisation's API keys, active ones first, newest first."""
    return sorted(
        ApiKey.objects.filter(organisation=organisation).order_by("-created_at", "-pk"),
        key=lambda key: key.revoked_at is not None,
    )
