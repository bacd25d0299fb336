"""Enrollment: a person's reference photos become protected face templates.

Spans the apps: the face engine (``matching.engine``) analyses each photo, the registry stores
the protected template (and the encrypted photo when the person keeps photos), and the consent
app sets the new templates' opt-out flag in the same transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from consent import services as consent_services
from lifecycle.services.disputes import face_conflict_check, person_open_disputes_count
from matching.engine import get_engine
from matching.engine.errors import (
    CorruptImage,
    ImageError,
    ImageTooLarge,
    NotAnImage,
    UnsupportedImageFormat,
)
from matching.lib.imaging import (
    IMAGE_MIME_TYPES,
    PixelBudget,
    decode_image,
    sniff_image_type,
)
from registry.lib.photo_crypto import encrypt_photo
from registry.lib.sizes import megabytes
from registry.lib.template_protection import protect, unprotect
from registry.models import FaceTemplate, Person, ReferencePhoto, RegistrationStatus
from registry.selectors import current_template_key_version, template_key

logger = logging.getLogger(__name__)

#: The pixels one upload's photos may have together: ten 12-megapixel phone photos. Each photo
#: also has its own limits (``MAX_IMAGE_PIXELS``, lower for PNG and WebP); this bounds what one
#: request makes the server decode and analyse, whatever the number of photos.
UPLOAD_MAX_PIXELS = 120_000_000


@dataclass
class PhotoOutcome:
    filename: str
    accepted: bool
    reason: str | None = None
    problems: list[str] = field(default_factory=list)
    template_id: int | None = None
    quality: float | None = None
    face_px: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "filename": self.filename,
            "accepted": self.accepted,
            "reason": self.reason,
            "problems": self.problems,
            "template_id": self.template_id,
            "quality": self.quality,
            "face_px": self.face_px,
        }


@dataclass
class EnrollmentResult:
    photos: list[PhotoOutcome]
    templates_total: int
    # ``disputed`` when a face matches another registration (see lifecycle.services.disputes);
    # ``conflicts`` counts the person's open disputes, never naming the other side.
    status: str = RegistrationStatus.ACTIVE
    conflicts: int = 0

    @property
    def accepted(self) -> list[PhotoOutcome]:
        return [p for p in self.photos if p.accepted]

    @property
    def rejected(self) -> list[PhotoOutcome]:
        return [p for p in self.photos if not p.accepted]

    def as_dict(self) -> dict[str, Any]:
        return {
            "accepted": len(self.accepted),
            "rejected": len(self.rejected),
            "templates_total": self.templates_total,
            "status": str(self.status),
            "conflicts": self.conflicts,
            "photos": [p.as_dict() for p in self.photos],
        }


_NUMBER_WORDS = {2: "two", 3: "three", 4: "four", 5: "five"}


def _reason_for_problem(problem: str) -> str:
    # The engine says "too blurry: sharpness 0.12, need 0.25"; people need only "too blurry"
    # (the numbers stay in ``problems``). Size keeps its numbers: they tell what to fix.
    if problem.startswith("too blurry"):
        return "too blurry"
    return problem


def _image_error_reason(error: ImageError, data: bytes) -> str:
    if isinstance(error, UnsupportedImageFormat):
        detected = (error.detail or {}).get("detected", "this format")
        return f"not an image we accept: {detected} (send JPEG, PNG or WebP)"
    if isinstance(error, NotAnImage):
        return "not an image"
    if isinstance(error, ImageTooLarge):
        return "image too large: " + error.message
    if isinstance(error, CorruptImage):
        return "the image is truncated or corrupt"
    return "the image could not be read"


def face_template_store(*, person: Person, face: Any, key_version: int) -> FaceTemplate:
    """Store an engine's face (a ``FaceEmbedding``) as one of the person's templates, protected
    with template key ``key_version``: the one way enrollment, re-enrolment and live capture
    write a template.

    The face is then searched against every other registered person: a match opens a dispute
    and marks the person's registration disputed (``lifecycle.services.disputes``); the
    template is stored either way. Call inside a transaction.
    """
    template = FaceTemplate.objects.create(
        person=person,
        embedding=protect(face.vector, template_key(key_version)),
        key_version=key_version,
        model_name=face.model_name,
        model_version=face.model_version,
        quality=float(face.quality.score),
        face_px=int(face.quality.size_px),
    )
    face_conflict_check(person=person, face=face, template=template)
    return template


def photo_analyse(
    filename: str, data: bytes, engine, budget: PixelBudget | None = None
) -> tuple[PhotoOutcome, Any]:
    """Decode and analyse one reference photo as enrollment judges it; returns its outcome and,
    when accepted, the face. ``budget`` is the pixels left in the request's upload (one photo
    alone gets the per-upload budget)."""
    if budget is None:
        budget = PixelBudget(max(UPLOAD_MAX_PIXELS, settings.MAX_IMAGE_PIXELS))
    if len(data) > settings.MAX_IMAGE_BYTES:
        return PhotoOutcome(
            filename,
            False,
            f"file too large: {megabytes(len(data))}, limit {megabytes(settings.MAX_IMAGE_BYTES)}",
        ), None
    try:
        image = decode_image(data, max_pixels=settings.MAX_IMAGE_PIXELS, budget=budget)
    except ImageError as error:
        return PhotoOutcome(filename, False, _image_error_reason(error, data)), None
    faces = engine.analyse(image)
    if not faces:
        return PhotoOutcome(filename, False, "no face found"), None
    if len(faces) > 1:
        count = _NUMBER_WORDS.get(len(faces), str(len(faces)))
        return PhotoOutcome(filename, False, f"{count} faces found"), None
    face = faces[0]
    problems = list(face.quality.problems)
    if problems:
        return PhotoOutcome(
            filename,
            False,
            _reason_for_problem(problems[0]),
            problems=problems,
            quality=face.quality.score,
            face_px=face.quality.size_px,
        ), None
    return PhotoOutcome(
        filename, True, quality=face.quality.score, face_px=face.quality.size_px
    ), face


# The engine is deterministic: the same picture sent twice gives the same embedding (distance 0;
# a re-encoded copy stays under about 0.1, two different photos of one person measured 0.2 and
# more on the shared faces). Only the same picture is refused: it would add a template that
# says nothing new. Nothing about the photo is stored to recognise it.
SAME_PICTURE_DISTANCE = 0.01


def person_enroll(*, person: Person, images: list[tuple[str, bytes]]) -> EnrollmentResult:
    """Turn reference photos into protected face templates, one verdict per photo.

    Accepted photos are kept even when others are rejected. A person holds at most
    ``ENROLLMENT_MAX_PHOTOS`` templates; photos beyond the cap are rejected with that reason.
    The photo itself is discarded once its template exists, unless the person chose to keep
    photos, in which case it is stored encrypted (AES-GCM).
    """
    engine = get_engine()
    limit = settings.ENROLLMENT_MAX_PHOTOS
    budget = PixelBudget(max(UPLOAD_MAX_PIXELS, settings.MAX_IMAGE_PIXELS))
    # Face analysis is slow, so it runs before the row lock is taken.
    analysed = [(*photo_analyse(name, data, engine, budget), data) for name, data in images]

    version = current_template_key_version()
    with transaction.atomic():
        person = Person.objects.select_for_update().get(pk=person.pk)
        count = person.templates.count()
        known = _raw_templates(person, model_name=engine.name)
        for outcome, face, data in analysed:
            if not outcome.accepted:
                continue
            if count >= limit:
                outcome.accepted = False
                outcome.reason = f"limit reached: at most {limit} photos per person"
                continue
            # Every photo must show the face of the person's other photos: otherwise anyone could
            # add someone else's face to their own opt-out and have it blocked everywhere.
            nearest = float(engine.distances(face, np.stack(known)).min()) if known else None
            if nearest is not None and nearest > engine.review_threshold:
                outcome.accepted = False
                outcome.reason = (
                    f"a different face from this person's other photos (distance {nearest:.2f}, "
                    f"at most {engine.review_threshold:.2f})"
                )
                continue
            if nearest is not None and nearest <= SAME_PICTURE_DISTANCE:
                outcome.accepted = False
                outcome.reason = "this photo is already registered (send a different photo)"
                continue
            known.append(np.asarray(face.vector, dtype=np.float32))
            template = face_template_store(person=person, face=face, key_version=version)
            if person.keep_photos:
                ReferencePhoto.objects.create(
                    person=person,
                    template=template,
                    content_type=IMAGE_MIME_TYPES.get(sniff_image_type(data) or "", ""),
                    ciphertext=encrypt_photo(
                        data, key=settings.PHOTO_ENCRYPTION_KEY, owner=person.public_id
                    ),
                )
            outcome.template_id = template.pk
            count += 1
        if any(outcome.accepted for outcome, _face, _data in analysed):
            # New templates take the person's opt-out flag in this transaction, under the lock
            # that opt-outs and revocations take, so no check misses them.
            consent_services.templates_optout_sync(person_id=person.pk)
            # New photos count as a confirmation that the person still wants to be protected.
            person.templates_confirmed_at = timezone.now()
            person.retention_reminded_at = None
            person.save(update_fields=["templates_confirmed_at", "retention_reminded_at"])
        person.refresh_from_db(fields=["registration_status"])
        conflicts = person_open_disputes_count(person_id=person.pk)
    result = EnrollmentResult(
        photos=[o for o, _f, _d in analysed],
        templates_total=count,
        status=person.registration_status,
        conflicts=conflicts,
    )
    logger.info(
        "enrollment person=%s accepted=%d rejected=%d status=%s",
        person.pk,
        len(result.accepted),
        len(result.rejected),
        result.status,
    )
    return result


def _raw_templates(person: Person, *, model_name: str) -> list[np.ndarray]:
    """The person's stored embeddings from ``model_name``, unprotected (kept in memory only)."""
    return [
        unprotect(template.embedding, template_key(template.key_version))
        for template in person.templates.filter(model_name=model_name)
    ]
