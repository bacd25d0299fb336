"""Reads of the registry app: template keys, and a person's or an account's own rows.

``current_template_key_version`` and ``template_key`` read the template keys from settings
(``TEMPLATE_KEYS``; the keys never live in the database). The rest are the plain reads pages and
the API show: a person's templates and attestations, an account's organisations and role, a
person by public id, and the notices of the face disputes a person is in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from registry.models import (
    ApiKey,
    Dispute,
    DisputeOrigin,
    DisputeStatus,
    FaceTemplate,
    Invitation,
    Membership,
    Organisation,
    Person,
)

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


# --- Face disputes ----------------------------------------------------------------------------

# How long a resolved dispute stays on the person's page.
DISPUTE_SHOWN_AFTER_RESOLUTION = timedelta(days=90)

_OUTCOME_FOR_SIDE = {
    # (resolution, is the person the newcomer?) -> what happened to their registration
    ("newcomer_owns", True): "the face was found to be yours; your registration is active.",
    ("newcomer_owns", False): "the face was found to be someone else's; your photos were removed.",
    ("existing_owns", True): "the face was found to be someone else's; your photos were removed.",
    ("existing_owns", False): "the face was found to be yours; your registration is active.",
    ("distinct_people", True): "you and the other person are different people; nothing changes.",
    ("distinct_people", False): "you and the other person are different people; nothing changes.",
    ("both_removed", True): "neither registration could be confirmed; your photos were removed.",
    ("both_removed", False): "neither registration could be confirmed; your photos were removed.",
}


@dataclass(frozen=True)
class DisputeNotice:
    """What a person is told about a dispute they are in: never who the other side is."""

    public_id: str
    created_at: datetime
    is_open: bool
    in_question: bool  # whether this person's registration is the disputed one
    message: str


def _notice_message(dispute: Dispute, person: Person) -> tuple[bool, str]:
    newcomer = dispute.newcomer_id == person.pk
    in_question = dispute.disputed_party_id == person.pk
    if dispute.status == DisputeStatus.RESOLVED:
        return in_question, "An operator resolved it: " + _OUTCOME_FOR_SIDE[
            (dispute.resolution, newcomer)
        ]
    if dispute.origin == DisputeOrigin.REPORTED:
        if newcomer:
            return in_question, (
                "You reported that someone else registered your face. An operator will review "
                "it; your own registration is unchanged meanwhile."
            )
        return in_question, (
            "Someone reported that the face in your registration is theirs. Until an operator "
            "resolves it, your consent grants do not count as consent and a match of your "
            "opt-out is sent for review rather than blocked."
        )
    if newcomer:
        return in_question, (
            "Your photos match a face that someone else registered first. Until an operator "
            "resolves it, your consent grants do not count as consent and a match of your "
            "opt-out is sent for review rather than blocked. An operator may email you to "
            "confirm that the face is yours."
        )
    return in_question, (
        "Someone else registered photos that match your face. An operator will review it; "
        "your registration is unchanged meanwhile. If you did not register twice, there is "
        "nothing you need to do."
    )


def person_dispute_notices(*, person: Person) -> list[DisputeNotice]:
    """The disputes the person is in, open ones and those resolved lately, newest first."""
    recent = timezone.now() - DISPUTE_SHOWN_AFTER_RESOLUTION
    disputes = (
        Dispute.objects.filter(Q(newcomer=person) | Q(existing=person))
        .filter(Q(status=DisputeStatus.OPEN) | Q(resolved_at__gte=recent))
        .order_by("-created_at", "-pk")
    )
    notices = []
    for dispute in disputes:
        in_question, message = _notice_message(dispute, person)
        notices.append(
            DisputeNotice(
                public_id=dispute.public_id,
                created_at=dispute.created_at,
                is_open=dispute.status == DisputeStatus.OPEN,
                in_question=in_question,
                message=message,
            )
        )
    return notices
