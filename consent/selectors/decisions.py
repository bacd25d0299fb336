"""The consent decision rules: who opted out of what, and whether a use is consented.

``consent_decision`` answers a studio's consent check; ``people_consent`` answers the same
question, plus the oldest covering opt-out, for every person a media check matched, from one
read. Both apply ``_decide`` to the same deciding records, so the two can never disagree.

Both also apply the same trust floor (``_trusted``): a grant consents only when the grantee is
a verified organisation and the person holds at least ``CONSENT_MIN_ASSURANCE`` (``liveness``),
since below that anyone could have signed up and granted in their name. Such a grant stays
recorded; it is answered ``not_consented`` with a ``reason`` until both hold. Nor does a grant
from a registration whose face is disputed (``Person.registration_status``, another
registration holds the same face) consent until an operator resolves the dispute: whichever
level either person holds, we do not yet know whose face it is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q, QuerySet

from consent.lib.uses import ALL_USES, WORLDWIDE
from consent.models import ConsentCheck, Record, RecordKind
from registry.models import (
    CONSENT_MIN_ASSURANCE,
    AssuranceLevel,
    Organisation,
    OrganisationVerification,
    Person,
    RegistrationStatus,
    assurance_at_least,
)

# Why a valid grant did not consent (``ConsentDecision.reason``).
REASON_ORGANISATION_UNVERIFIED = "organisation_unverified"
REASON_ASSURANCE_TOO_LOW = "assurance_too_low"
REASON_REGISTRATION_DISPUTED = "registration_disputed"


@dataclass(frozen=True)
class OptOutScope:
    """The opt-out a media check cites for one person: which record, which uses, since when."""

    record_id: str
    categories: list[str]
    created_at: datetime


def _active_optouts() -> QuerySet[Record]:
    return Record.objects.filter(kind=RecordKind.OPTOUT, revoked_at__isnull=True)


def _covers_category(category: str) -> Q:
    # Both tests are jsonb @> and use record_optout_categories_idx.
    return Q(categories__contains=[category]) | Q(categories__contains=[ALL_USES])


def optout_person_ids(*, category: str | None) -> QuerySet:
    """Ids of people with an active opt-out covering ``category`` (an all-uses one covers all);
    with ``category`` None, of everyone with any active opt-out (every opt-out covers some use).

    A lazy ``values_list`` meant to be used as a subquery (``person_id__in=...``); it reads
    only the partial indexes over active opt-outs. A person with several opt-outs appears once
    per opt-out: add ``distinct()`` to count people.
    """
    optouts = _active_optouts().filter(person__isnull=False)
    if category is not None:
        optouts = optouts.filter(_covers_category(category))
    return optouts.values_list("person_id", flat=True)


def person_has_active_optout(*, person_id: int) -> bool:
    """Whether the person has any active opt-out (of any category): checks search them."""
    return _active_optouts().filter(person_id=person_id).exists()


def optouts_covering(*, person_ids: Sequence[int], category: str) -> dict[int, OptOutScope]:
    """For each of ``person_ids`` with an active opt-out covering ``category``, the oldest one."""
    found: dict[int, OptOutScope] = {}
    rows = (
        _active_optouts()
        .filter(_covers_category(category), person_id__in=list(person_ids))
        .order_by("person_id", "created_at", "id")
        .values_list("person_id", "record_id", "categories", "created_at")
    )
    for person_id, record_id, categories, created_at in rows:
        found.setdefault(
            person_id,
            OptOutScope(record_id=record_id, categories=list(categories), created_at=created_at),
        )
    return found


def _grant_matches(
    grant: Record, *, category: str, media_type: str | None, territory: str | None
) -> bool:
    if category not in grant.categories:
        return False
    if media_type is not None and media_type not in grant.media_types:
        return False
    return territory is None or grant.territory in (WORLDWIDE, territory)


def _in_window(grant: Record, at: datetime) -> bool:
    # Without an explicit start, consent starts when it was given, never retroactively.
    if at < (grant.valid_from or grant.created_at):
        return False
    return grant.valid_until is None or at < grant.valid_until


@dataclass(frozen=True)
class ConsentDecision:
    result: str  # a ConsentCheck.Result value
    record: Record | None  # the grant or opt-out that decides it
    reason: str | None = None  # why a valid grant did not consent (REASON_*), else None


def _organisation_verified(organisation_id: int | None) -> bool:
    return (
        organisation_id is not None
        and Organisation.objects.filter(
            pk=organisation_id, verification=OrganisationVerification.VERIFIED
        ).exists()
    )


def people_assurance(*, person_ids: Sequence[int]) -> dict[int, str]:
    """Each person's assurance level, from one query (erased people are absent)."""
    return dict(Person.objects.filter(pk__in=list(person_ids)).values_list("pk", "assurance"))


def people_disputed(*, person_ids: Sequence[int]) -> set[int]:
    """Which of ``person_ids`` hold a disputed registration (another one holds the same face)."""
    return set(
        Person.objects.filter(
            pk__in=list(person_ids), registration_status=RegistrationStatus.DISPUTED
        ).values_list("pk", flat=True)
    )


def _required_assurance(min_assurance: str | None) -> str:
    # A caller may ask for more than the floor, never for less.
    if min_assurance is not None and assurance_at_least(min_assurance, CONSENT_MIN_ASSURANCE):
        return min_assurance
    return CONSENT_MIN_ASSURANCE


def _trusted(
    decision: ConsentDecision,
    *,
    organisation_verified: bool,
    assurance: str,
    disputed: bool,
    min_assurance: str | None = None,
) -> ConsentDecision:
    """``decision``, unless it consents on a grant that cannot be trusted yet."""
    if decision.result != ConsentCheck.Result.CONSENTED:
        return decision
    if disputed:
        return ConsentDecision(
            ConsentCheck.Result.NOT_CONSENTED, None, REASON_REGISTRATION_DISPUTED
        )
    if not organisation_verified:
        return ConsentDecision(
            ConsentCheck.Result.NOT_CONSENTED, None, REASON_ORGANISATION_UNVERIFIED
        )
    if not assurance_at_least(assurance, _required_assurance(min_assurance)):
        return ConsentDecision(ConsentCheck.Result.NOT_CONSENTED, None, REASON_ASSURANCE_TOO_LOW)
    return decision


def consent_decision(
    *,
    person_id: int,
    organisation_id: int,
    category: str,
    media_type: str | None,
    territory: str | None,
    at: datetime,
    lock: bool = False,
    min_assurance: str | None = None,
) -> ConsentDecision:
    """Whether ``organisation`` may make synthetic media of the person for this use at ``at``.

    Rules, in order: a valid (unrevoked, in its window) grant covering the use is consent,
    unless an active opt-out covering the category was recorded after it (the later decision
    wins); otherwise such an opt-out means opted_out; otherwise the newest covering grant
    that was revoked or has expired explains the refusal; otherwise not_consented. A consent
    holds only for a verified organisation and an undisputed person at ``min_assurance`` or
    above (never below ``liveness``); otherwise it is not_consented with the ``reason``.

    With ``lock`` (inside a transaction) the deciding rows are locked, so a concurrent
    revocation waits for this check to commit, or this check waits for it and sees it.
    """
    candidates = Record.objects.filter(person_id=person_id).filter(
        _deciding_records(organisation_id=organisation_id, category=category)
    )
    if lock:
        # Row locks in primary-key order, the same order every locker uses: no deadlocks.
        candidates = candidates.select_for_update(no_key=True).order_by("id")
    decision = _decide(
        list(candidates), category=category, media_type=media_type, territory=territory, at=at
    )
    return _trusted(
        decision,
        organisation_verified=_organisation_verified(organisation_id),
        assurance=people_assurance(person_ids=[person_id]).get(
            person_id, AssuranceLevel.SELF_ASSERTED
        ),
        disputed=bool(people_disputed(person_ids=[person_id])),
        min_assurance=min_assurance,
    )


@dataclass(frozen=True)
class PersonConsent:
    """What a media check needs to know of one matched person, for one use category."""

    optout: OptOutScope | None  # the oldest active opt-out covering the category
    decision: ConsentDecision  # for the checking organisation (never consented without one)
    assurance: str  # the person's assurance level


def people_consent(
    *,
    person_ids: Sequence[int],
    organisation_id: int | None,
    category: str,
    media_type: str | None,
    territory: str | None,
    at: datetime,
    assurances: Mapping[int, str] | None = None,
) -> dict[int, PersonConsent]:
    """``optouts_covering`` and ``consent_decision`` for several people, from one read.

    ``assurances`` (person id -> level) spares the query when the caller already read them.
    """
    if not person_ids:
        return {}
    if assurances is None:
        assurances = people_assurance(person_ids=person_ids)
    organisation_verified = _organisation_verified(organisation_id)
    disputed = people_disputed(person_ids=person_ids)
    rows: dict[int, list[Record]] = {person_id: [] for person_id in person_ids}
    for record in Record.objects.filter(person_id__in=list(person_ids)).filter(
        _deciding_records(organisation_id=organisation_id, category=category)
    ):
        rows[record.person_id].append(record)
    found = {}
    for person_id, records in rows.items():
        oldest = min(
            (row for row in records if row.kind == RecordKind.OPTOUT),
            key=lambda row: (row.created_at, row.id),
            default=None,
        )
        optout = (
            None
            if oldest is None
            else OptOutScope(
                record_id=oldest.record_id,
                categories=list(oldest.categories),
                created_at=oldest.created_at,
            )
        )
        assurance = assurances.get(person_id, AssuranceLevel.SELF_ASSERTED)
        decision = _decide(
            records, category=category, media_type=media_type, territory=territory, at=at
        )
        found[person_id] = PersonConsent(
            optout=optout,
            decision=_trusted(
                decision,
                organisation_verified=organisation_verified,
                assurance=assurance,
                disputed=person_id in disputed,
            ),
            assurance=assurance,
        )
    return found


def _deciding_records(*, organisation_id: int | None, category: str) -> Q:
    """The records that can decide a use: the organisation's grants for the category and the
    active opt-outs covering it."""
    optouts = Q(kind=RecordKind.OPTOUT, revoked_at__isnull=True) & _covers_category(category)
    if organisation_id is None:
        return optouts
    grants = Q(
        kind=RecordKind.GRANT, organisation_id=organisation_id, categories__contains=[category]
    )
    return grants | optouts


def _decide(
    rows: list[Record],
    *,
    category: str,
    media_type: str | None,
    territory: str | None,
    at: datetime,
) -> ConsentDecision:
    """The rules of ``consent_decision`` applied to one person's deciding records."""
    grants = sorted(
        (
            row
            for row in rows
            if row.kind == RecordKind.GRANT
            and _grant_matches(row, category=category, media_type=media_type, territory=territory)
        ),
        key=lambda row: (row.created_at, row.id),
        reverse=True,
    )
    optouts = sorted(
        (row for row in rows if row.kind == RecordKind.OPTOUT and row.revoked_at is None),
        key=lambda row: (row.created_at, row.id),
        reverse=True,
    )
    latest_optout = optouts[0] if optouts else None
    valid = [grant for grant in grants if grant.revoked_at is None and _in_window(grant, at)]
    if valid:
        grant = valid[0]
        if latest_optout is not None and latest_optout.created_at > grant.created_at:
            return ConsentDecision(ConsentCheck.Result.OPTED_OUT, latest_optout)
        return ConsentDecision(ConsentCheck.Result.CONSENTED, grant)
    if latest_optout is not None:
        return ConsentDecision(ConsentCheck.Result.OPTED_OUT, latest_optout)
    for grant in grants:
        if grant.revoked_at is not None:
            return ConsentDecision(ConsentCheck.Result.REVOKED, grant)
        if grant.valid_until is not None and grant.valid_until <= at:
            return ConsentDecision(ConsentCheck.Result.EXPIRED, grant)
    return ConsentDecision(ConsentCheck.Result.NOT_CONSENTED, None)
