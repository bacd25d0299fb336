"""A person's own signing keys: registering one to co-sign their records, and revoking it."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from consent.lib import signing
from consent.models import PersonKey
from consent.services.records import _require_actor_is
from registry.lib.errors import Conflict, ValidationFailed
from registry.models import Person, User


def person_key_register(*, person: Person, public_key: bytes) -> PersonKey:
    """Register the person's own Ed25519 public key for co-signing their records."""
    public_key = bytes(public_key)
    try:
        signing.public_key_from_bytes(public_key)
    except ValueError as error:
        raise ValidationFailed(str(error), code="invalid_key") from None
    kid = signing.key_id(public_key)
    if PersonKey.objects.filter(kid=kid).exists():
        raise Conflict("This key is already registered.", code="duplicate_key")
    return PersonKey.objects.create(person=person, kid=kid, public_key=public_key)


def person_key_revoke(*, key: PersonKey, actor: User | None = None) -> PersonKey:
    """The person stops co-signing with ``key`` (lost or replaced); idempotent.

    A signature made with it is refused from now on. The key is kept, marked revoked, because
    the records it co-signed before still name it and must keep verifying.
    """
    _require_actor_is(key.person, actor)
    with transaction.atomic():
        locked = PersonKey.objects.select_for_update().get(pk=key.pk)
        if locked.revoked_at is None:
            locked.revoked_at = timezone.now()
            locked.save(update_fields=["revoked_at"])
    return locked
