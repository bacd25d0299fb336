"""Plain reads of records, consent requests and consent checks, for people and organisations.

The lists are querysets in the order pages and the API show them (newest first) with the related
rows they display already joined; a single row (``record_get``, ``request_for_person``,
``person_find``) raises ``NotFound`` when missing. ``record_with_proof`` adds a record's signed
envelope and inclusion proof, and ``person_consent_export`` is the consent part of a person's
data export (``lifecycle.services.person_export``).
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from consent.lib.canonical import parse_json
from consent.lib.dates import iso_utc
from consent.models import ConsentCheck, ConsentRequest, Record, RecordKind
from consent.selectors.log import log_entry_with_proof, logged_receipt, tree_head_description
from registry.lib.errors import NotFound
from registry.models import Organisation, Person


def record_get(*, record_id: str) -> Record:
    record = (
        Record.objects.select_related("log_entry", "organisation", "revokes", "person")
        .filter(record_id=record_id)
        .first()
    )
    if record is None:
        raise NotFound("No such record.", detail={"record_id": record_id})
    return record


def record_with_proof(*, record: Record) -> dict[str, Any]:
    """A record's signed envelope with its inclusion proof against the latest tree head."""
    entry, head, proof = log_entry_with_proof(index=record.log_entry.index)
    return {
        "record_id": record.record_id,
        "leaf_index": entry.index,
        "envelope": parse_json(bytes(entry.record)),
        "tree_head": tree_head_description(head),
        "inclusion_proof": proof.to_json(),
    }


def person_records(*, person: Person) -> QuerySet[Record]:
    return (
        Record.objects.filter(person=person)
        .select_related("organisation", "revokes", "log_entry")
        .order_by("-created_at", "-id")
    )


def requests_waiting(*, person: Person) -> QuerySet[ConsentRequest]:
    """Pending requests addressed to the person, by account or to their verified email."""
    addressed = Q(person=person)
    user = person.user
    if user is not None and user.email_verified_at is not None:
        addressed |= Q(person__isnull=True, invite_email__iexact=user.email)
    return (
        ConsentRequest.objects.filter(addressed, status=ConsentRequest.Status.PENDING)
        .select_related("organisation")
        .order_by("-created_at", "-id")
    )


def request_for_person(*, person: Person, request_id: str) -> ConsentRequest:
    found = requests_waiting(person=person).filter(request_id=request_id).first()
    if found is None:
        found = (
            ConsentRequest.objects.filter(person=person, request_id=request_id)
            .select_related("organisation", "grant")
            .first()
        )
    if found is None:
        raise NotFound("No such consent request.", detail={"request_id": request_id})
    return found


def organisation_requests(*, organisation: Organisation) -> QuerySet[ConsentRequest]:
    return (
        ConsentRequest.objects.filter(organisation=organisation)
        .select_related("grant", "person")
        .order_by("-created_at", "-id")
    )


def organisation_request(*, organisation: Organisation, request_id: str) -> ConsentRequest:
    """One of the organisation's own consent requests (NotFound for anyone else's)."""
    found = ConsentRequest.objects.filter(organisation=organisation, request_id=request_id).first()
    if found is None:
        raise NotFound("No such consent request.")
    return found


def organisation_consent_checks(*, organisation: Organisation) -> QuerySet[ConsentCheck]:
    return (
        ConsentCheck.objects.filter(organisation=organisation)
        .select_related("person", "decided_by")
        .order_by("-created_at", "-id")
    )


def consent_check_receipt(*, organisation: Organisation, check_id: str) -> dict[str, Any]:
    """The logged receipt of one of the organisation's consent checks, as it was answered: the
    signed decision, the tree head just after it, and inclusion proofs for it and the record
    that decided it (``manage.py verify_receipt`` checks it offline)."""
    check = (
        ConsentCheck.objects.filter(organisation=organisation, check_id=check_id)
        .select_related("log_entry", "decided_by__log_entry")
        .first()
    )
    if check is None:
        raise NotFound("No such consent check.")
    related = [check.decided_by.log_entry] if check.decided_by else []
    return logged_receipt(entry=check.log_entry, related=related)


def organisation_grants(*, organisation: Organisation) -> QuerySet[Record]:
    return (
        Record.objects.filter(kind=RecordKind.GRANT, organisation=organisation)
        .select_related("person")
        .order_by("-created_at", "-id")
    )


def person_checks(*, person: Person) -> QuerySet[ConsentCheck]:
    return (
        ConsentCheck.objects.filter(person=person)
        .select_related("organisation", "decided_by")
        .order_by("-created_at", "-id")
    )


def person_find(*, person: str) -> Person:
    """A person by public id (``sub_...``) or public handle."""
    query = Q(public_id=person) if person.startswith("sub_") else Q(handle=person)
    found = Person.objects.filter(query, suspended_at__isnull=True).select_related("user").first()
    if found is None:
        raise NotFound("No such person in the registry.", code="unknown_person")
    return found


def person_consent_export(*, person: Person) -> dict[str, Any]:
    """The consent part of a person's export (``lifecycle.services.person_export``): their
    records, consent requests and the consent checks made about them, times by ``iso_utc``."""
    return {
        "records": [
            {
                "record_id": record.record_id,
                "kind": record.kind,
                "created_at": iso_utc(record.created_at),
                "revoked_at": iso_utc(record.revoked_at),
                "organisation": record.organisation.slug if record.organisation else None,
                "categories": record.categories,
                "media_types": record.media_types,
                "territory": record.territory,
                "purpose": record.purpose,
                "project_ref": record.project_ref,
                "revokes": record.revokes.record_id if record.revokes else None,
                "log_index": record.log_entry.index,
            }
            for record in person_records(person=person)
        ],
        "requests": [
            {
                "request_id": request.request_id,
                "organisation": request.organisation.slug,
                "status": request.status,
                "purpose": request.purpose,
                "created_at": iso_utc(request.created_at),
            }
            for request in ConsentRequest.objects.filter(person=person).select_related(
                "organisation"
            )
        ],
        "checks": [
            {
                "check_id": check.check_id,
                "organisation": check.organisation.slug,
                "category": check.category,
                "result": check.result,
                "created_at": iso_utc(check.created_at),
            }
            for check in person_checks(person=person)
        ],
    }
