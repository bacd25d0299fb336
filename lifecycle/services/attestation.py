"""Attestations: a verifier organisation confirms a person's identity.

The registry keeps the attestation (who, when, how) and recomputes the person's assurance level;
the consent app logs a signed record that says only "this verifier attests this subject".
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from consent import services as consent_services
from registry import services as registry_services
from registry.lib.errors import PermissionDeniedError, ValidationFailed
from registry.models import Attestation, Organisation, OrganisationKind, Person, User


@transaction.atomic
def attestation_create(
    *, person: Person, verifier: Organisation, method: str, attested_by: User | None = None
) -> Attestation:
    """A verifier organisation confirms the person's identity: who, when and how."""
    if verifier.kind != OrganisationKind.VERIFIER:
        raise PermissionDeniedError("Only a verifier organisation can attest an identity.")
    if verifier.suspended_at is not None:
        raise PermissionDeniedError("This organisation is suspended.")
    method = (method or "").strip()
    if not method:
        raise ValidationFailed(
            "method: Say how the identity was verified.", detail={"method": "required"}
        )
    # The signed, logged record says only "this verifier attests this subject"; how it was done
    # (the method) may describe documents, so it stays in the registry.
    record = consent_services.attestation_record(
        person=person, verifier=verifier, actor=attested_by
    )
    attestation = Attestation.objects.create(
        person=person,
        verifier=verifier,
        attested_by=attested_by,
        method=method[:200],
        record=record,
    )
    registry_services.assurance_refresh(person=person)
    registry_services.audit_record(
        action="attestation.record",
        actor=attested_by,
        target=person,
        metadata={"attestation": attestation.pk, "verifier": verifier.pk},
    )
    return attestation


@transaction.atomic
def attestation_revoke(*, attestation: Attestation, actor: User | None) -> Attestation:
    if attestation.revoked_at is None:
        attestation.revoked_at = timezone.now()
        attestation.save(update_fields=["revoked_at"])
        registry_services.assurance_refresh(person=attestation.person)
        registry_services.audit_record(
            action="attestation.revoke",
            actor=actor,
            target=attestation.person,
            metadata={"attestation": attestation.pk},
        )
    return attestation
