"""Re-enrolment: moving the registry's templates to the active engine's model.

Vectors of two models are not comparable, so a change of model (``FACE_ENGINE_BACKEND``) is a
re-enrolment, not a conversion (``docs/engines.md``, moving a registry to a new model). For every
person holding templates of another model:

- who kept their photos (``ReferencePhoto``, AES-GCM): each photo is analysed again with the
  active engine, exactly as enrollment judges a new photo, and becomes a template of the active
  model, protected with the current template key; the photo moves to its new template, and the
  person's templates of other models go, with any kept photo the active engine could not use;
- who did not: nothing changes (only the old model can find them until they send new photos or
  a live capture); they are counted, and with ``notify`` asked by email for new photos.

People are handled one transaction each (under the person's row lock, like enrollment), in
batches by id, so a run can be interrupted and run again: a person with only templates of the
active model is never touched again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse

from consent import services as consent_services
from lifecycle.services.enrollment import face_template_store, photo_analyse
from matching.engine import get_engine
from matching.engine.base import FaceEmbedding, FaceEngine
from registry.lib.errors import RegistryError
from registry.lib.photo_crypto import PhotoDecryptionError, decrypt_photo
from registry.models import FaceTemplate, Person, ReferencePhoto
from registry.selectors import current_template_key_version

logger = logging.getLogger(__name__)

BATCH_SIZE = 100


class ReenrollmentRefused(RegistryError):
    status_code = 409
    code = "reenrollment_refused"
    default_message = "The templates cannot be moved to the active engine's model."


@dataclass
class ReenrollmentSummary:
    """Counts only: who needs new photos is never part of the summary."""

    reenrolled: int = 0
    templates: int = 0
    needs_new_photos: int = 0
    failed: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "reenrolled": self.reenrolled,
            "templates": self.templates,
            "needs_new_photos": self.needs_new_photos,
            "failed": self.failed,
        }


def templates_reenroll(
    *,
    batch_size: int = BATCH_SIZE,
    notify: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> ReenrollmentSummary:
    """Give everyone who kept photos templates of the active model, and drop their others.

    ``reenrolled``: people whose templates are now all of the active model; ``templates``: the
    templates made; ``needs_new_photos``: people without kept photos, who keep their old
    templates; ``failed``: people whose kept photos gave no usable face under the active engine
    (or could not be decrypted), who also keep their old templates. ``progress(done, total)`` is
    called after each person. Refuses (``ReenrollmentRefused``) when the active engine's vectors
    do not fit the template column.
    """
    engine = get_engine()
    column = FaceTemplate._meta.get_field("embedding").dimensions
    if engine.dimensions != column:
        raise ReenrollmentRefused(
            f"The active engine {engine.name} makes {engine.dimensions}-number vectors, but "
            f"templates are stored in a {column}-number column; a model of another length needs "
            "the storage migration described in docs/engines.md first.",
            detail={"engine_dimensions": engine.dimensions, "column_dimensions": column},
        )
    pending = Person.objects.filter(
        pk__in=FaceTemplate.objects.exclude(model_name=engine.name).values("person_id")
    ).order_by("pk")
    total = pending.count()
    summary = ReenrollmentSummary()
    done, last_pk = 0, 0
    while True:
        batch = list(pending.filter(pk__gt=last_pk).select_related("user")[:batch_size])
        if not batch:
            break
        for person in batch:
            _person_reenroll(person, engine, summary, notify=notify)
            done += 1
            if progress is not None:
                progress(done, total)
        last_pk = batch[-1].pk
    logger.info("reenrollment model=%s %s", engine.name, summary.as_dict())
    return summary


def _person_reenroll(
    person: Person, engine: FaceEngine, summary: ReenrollmentSummary, *, notify: bool
) -> None:
    photos = list(ReferencePhoto.objects.filter(person=person).order_by("pk"))
    if not (person.keep_photos and photos):
        summary.needs_new_photos += 1
        if notify and person.user is not None and person.user.email:
            _ask_for_new_photos(person)
        return

    # Face analysis is slow, so it runs before the row lock is taken (as in enrollment).
    faces: list[tuple[int, FaceEmbedding]] = []
    for photo in photos:
        try:
            data = decrypt_photo(
                photo.ciphertext, key=settings.PHOTO_ENCRYPTION_KEY, owner=person.public_id
            )
        except PhotoDecryptionError:
            logger.warning("reenrollment person=%s photo=%s undecryptable", person.pk, photo.pk)
            continue
        outcome, face = photo_analyse(f"photo {photo.pk}", data, engine)
        if face is None:
            logger.info("reenrollment person=%s photo=%s %s", person.pk, photo.pk, outcome.reason)
            continue
        faces.append((photo.pk, face))
    faces = _same_face(faces, engine)
    if not faces:
        summary.failed += 1
        return

    version = current_template_key_version()
    with transaction.atomic():
        locked = Person.objects.select_for_update().filter(pk=person.pk).first()
        if locked is None:  # erased meanwhile
            return
        # Photos deleted meanwhile (the person changed their mind) are not used.
        still_kept = set(
            ReferencePhoto.objects.filter(
                person=locked, pk__in=[pk for pk, _f in faces]
            ).values_list("pk", flat=True)
        )
        made = 0
        for photo_pk, face in faces:
            if photo_pk not in still_kept:
                continue
            template = face_template_store(person=locked, face=face, key_version=version)
            ReferencePhoto.objects.filter(pk=photo_pk).update(template=template)
            made += 1
        if not made:
            transaction.set_rollback(True)
            summary.failed += 1
            return
        # Kept photos the active engine could not use go with their old templates (cascade).
        FaceTemplate.objects.filter(person=locked).exclude(model_name=engine.name).delete()
        # The new templates take the person's opt-out flag in this transaction, under the lock
        # that opt-outs and revocations take, so no check misses them.
        consent_services.templates_optout_sync(person_id=locked.pk)
    summary.reenrolled += 1
    summary.templates += made


def _same_face(
    faces: list[tuple[int, FaceEmbedding]], engine: FaceEngine
) -> list[tuple[int, FaceEmbedding]]:
    """Enrollment's same-face gate under the active model: each photo must show the face of
    the ones before it, so a photo that only the old model took for the person is dropped."""
    kept: list[tuple[int, FaceEmbedding]] = []
    for photo_pk, face in faces:
        if kept:
            gallery = np.stack([np.asarray(f.vector, dtype=np.float32) for _pk, f in kept])
            if float(engine.distances(face, gallery).min()) > engine.review_threshold:
                continue
        kept.append((photo_pk, face))
    return kept


def _ask_for_new_photos(person: Person) -> None:
    send_mail(
        subject="Send new photos to stay protected by the Likeness Registry",
        message=(
            "The Likeness Registry has moved to a new face recognition model. Your photos were "
            "not kept, so your registration cannot be moved to it for you: until you add new "
            "photos (or a live capture), checks made with the new model cannot find you.\n\n"
            f"Add them here: {settings.SITE_URL}{reverse('me')}\n"
        ),
        from_email=None,
        recipient_list=[person.user.email],
    )
