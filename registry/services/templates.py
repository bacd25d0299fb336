"""A person's face templates: deleting one, confirming they are still wanted, the opt-out flag
searches filter on, and re-keying every template to a new template key."""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from registry.lib.errors import NotFound
from registry.lib.template_protection import reprotect
from registry.models import FaceTemplate, Person
from registry.selectors import current_template_key_version, template_key

logger = logging.getLogger(__name__)


def templates_optout_flag_set(*, person_id: int, opted_out: bool) -> int:
    """Set the ``opted_out`` flag on every template of the person; returns the rows changed.

    The consent app decides the value (``consent.services.templates_optout_sync``) under a
    per-person lock and calls this in the same transaction as the decision, so the flag commits
    with it: checks search only flagged templates (their partial HNSW index).
    """
    return (
        FaceTemplate.objects.filter(person_id=person_id)
        .exclude(opted_out=opted_out)
        .update(opted_out=opted_out)
    )


def template_delete(*, person: Person, template_id: int) -> None:
    """Remove one of the person's photos: its template and, if kept, the encrypted photo."""
    deleted, _ = FaceTemplate.objects.filter(person=person, pk=template_id).delete()
    if not deleted:
        raise NotFound("No such photo.")


def templates_confirm(*, person: Person) -> Person:
    """The person confirms their templates are still wanted: restarts the retention period."""
    person.templates_confirmed_at = timezone.now()
    person.retention_reminded_at = None
    person.save(update_fields=["templates_confirmed_at", "retention_reminded_at"])
    return person


def templates_rekey(*, to_version: int | None = None, batch_size: int = 500) -> dict[str, int]:
    """Re-protect every template with key ``to_version`` (default: the current one).

    Each row changes its vector and its ``key_version`` in one UPDATE, so at any moment every
    row is consistent with the version it names, and a search that rotates the query per version
    in use keeps finding everyone while the rotation runs: no downtime, no raw embedding ever
    leaves memory.
    """
    target = current_template_key_version() if to_version is None else int(to_version)
    new_key = template_key(target)
    moved = 0
    while True:
        with transaction.atomic():
            rows = list(
                FaceTemplate.objects.exclude(key_version=target)
                .select_for_update(skip_locked=True)
                .only("pk", "embedding", "key_version")[:batch_size]
            )
            if not rows:
                break
            for row in rows:
                row.embedding = reprotect(row.embedding, template_key(row.key_version), new_key)
                row.key_version = target
            FaceTemplate.objects.bulk_update(rows, ["embedding", "key_version"])
            moved += len(rows)
    remaining = FaceTemplate.objects.exclude(key_version=target).count()
    logger.info("template rekey to v%d moved=%d remaining=%d", target, moved, remaining)
    return {"version": target, "moved": moved, "remaining": remaining}
