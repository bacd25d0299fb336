"""The signed record of an operator's resolution of a face dispute.

A dispute is between two registrations that hold the same face (``registry.models.Dispute``);
the workflow that resolves it lives in ``lifecycle.services.disputes``. The record names the
two people only by their subject commitments and the dispute by its opaque id: no names, no
emails, no biometrics, no operator (who resolved it is in the registry's audit trail).
"""

from __future__ import annotations

from consent.lib.dates import iso_ms
from consent.models import Record, RecordKind
from consent.services.log import subject_commitment
from consent.services.records import RECORD_FORMAT, _draft_identity, registry_record_append
from registry.models import Dispute, Person


def _commitment(person: Person | None) -> str | None:
    # An erased party has no commitment left to compute: the record says so with null.
    return subject_commitment(person) if person is not None else None


def dispute_resolution_record(*, dispute: Dispute, resolution: str) -> Record:
    """Log that ``dispute`` was resolved with ``resolution``: a signed record of the decision."""
    record_id, issued_at = _draft_identity(None, None)
    payload = {
        "format": RECORD_FORMAT,
        "kind": RecordKind.DISPUTE_RESOLUTION.value,
        "record_id": record_id,
        "dispute": dispute.public_id,
        "origin": dispute.origin,
        "newcomer": _commitment(dispute.newcomer),
        "existing": _commitment(dispute.existing),
        "resolution": resolution,
        "opened_at": iso_ms(dispute.created_at),
        "issued_at": iso_ms(issued_at),
    }
    return registry_record_append(kind=RecordKind.DISPUTE_RESOLUTION, payload=payload)
