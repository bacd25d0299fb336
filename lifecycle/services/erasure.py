"""Erasure: destroy a person's data at once, across the apps.

The consent app first strips from its records what links them to the person (the signed records
themselves stay, holding only commitments); then the registry rows and the account go.
"""

from __future__ import annotations

import logging

from django.db import transaction

from consent import services as consent_services
from registry.models import (
    ApiKey,
    Attestation,
    AuditEvent,
    FaceTemplate,
    Membership,
    Person,
    ReferencePhoto,
    User,
)

logger = logging.getLogger(__name__)


def person_erase(*, person: Person, actor: User | None = None) -> None:
    """Destroy the person at once: templates, photos, attestations, personal fields, account.

    Signed consent records keep only commitments (the consent app decides, before the person row
    goes); audit events keep ids only, and the person's public id is scrubbed from them.
    """
    public_id = person.public_id
    with transaction.atomic():
        person = Person.objects.select_for_update().get(pk=person.pk)
        consent_services.person_records_on_erasure(person=person)
        user = person.user
        FaceTemplate.objects.filter(person=person).delete()
        ReferencePhoto.objects.filter(person=person).delete()
        Attestation.objects.filter(person=person).delete()
        person.delete()
        if user is not None:
            Membership.objects.filter(user=user).delete()
            ApiKey.objects.filter(user=user).delete()
            user.delete()
        AuditEvent.objects.filter(target_id=public_id).update(target_id="erased")
        AuditEvent.objects.create(action="person.erase", target_type="person", target_id="erased")
    logger.info("person erased")
