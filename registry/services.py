"""Every write of the registry app: people, organisations, API keys, enrollment, erasure."""

from __future__ import annotations

import base64
import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import IntegrityError, connection, transaction
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode
from django.utils.text import slugify

from matching.engine.errors import (
    CorruptImage,
    ImageError,
    ImageTooLarge,
    NotAnImage,
    UnsupportedImageFormat,
)
from matching.lib.imaging import IMAGE_MIME_TYPES, decode_image, sniff_image_type
from registry import scopes as scope_names
from registry.authentication import KEY_PREFIX, hash_secret
from registry.lib.errors import Conflict, NotFound, PermissionDeniedError, ValidationFailed
from registry.lib.photo_crypto import PhotoDecryptionError, decrypt_photo, encrypt_photo
from registry.lib.template_protection import protect, reprotect, unprotect
from registry.models import (
    ApiKey,
    AssuranceLevel,
    Attestation,
    AuditEvent,
    FaceTemplate,
    Membership,
    MembershipRole,
    Organisation,
    OrganisationKind,
    Person,
    ReferencePhoto,
    User,
)
from registry.selectors import current_template_key_version, template_key

logger = logging.getLogger(__name__)

__all__ = [
    "api_key_create",
    "api_key_revoke",
    "audit_record",
    "current_template_key_version",
    "membership_add",
    "organisation_create",
    "template_key",
]


def audit_record(
    *,
    action: str,
    actor: User | None = None,
    target: Any = None,
    metadata: dict[str, Any] | None = None,
) -> AuditEvent:
    """Record a security-relevant action. Ids only: never names, emails or biometrics."""
    actor = actor if isinstance(actor, User) else None
    return AuditEvent.objects.create(
        actor=actor,
        action=action,
        target_type=type(target).__name__.lower() if target is not None else "",
        target_id=str(getattr(target, "public_id", None) or getattr(target, "pk", "") or "")
        if target is not None
        else "",
        metadata=metadata or {},
    )


# --- Organisations ----------------------------------------------------------------------------


def _unique_slug(name: str) -> str:
    base = slugify(name)[:50] or "org"
    slug = base
    while Organisation.objects.filter(slug=slug).exists():
        slug = f"{base}-{secrets.token_hex(3)}"
    return slug


@transaction.atomic
def organisation_create(*, name: str, kind: str, owner: User | None) -> Organisation:
    name = (name or "").strip()
    if not name:
        raise ValidationFailed("An organisation needs a name.", detail={"name": "required"})
    if kind not in OrganisationKind.values:
        raise ValidationFailed(
            f"Unknown organisation kind {kind!r}; use one of {', '.join(OrganisationKind.values)}.",
            detail={"kind": "invalid"},
        )
    organisation = Organisation.objects.create(name=name, kind=kind, slug=_unique_slug(name))
    if owner is not None:
        Membership.objects.create(organisation=organisation, user=owner, role=MembershipRole.OWNER)
    audit_record(action="organisation.create", actor=owner, target=organisation)
    return organisation


def membership_add(
    *, organisation: Organisation, user: User, role: str = MembershipRole.MEMBER, actor=None
) -> Membership:
    if role not in MembershipRole.values:
        raise ValidationFailed(f"Unknown role {role!r}.", detail={"role": "invalid"})
    try:
        with transaction.atomic():
            membership = Membership.objects.create(organisation=organisation, user=user, role=role)
    except IntegrityError:
        raise ValidationFailed("This user is already a member.") from None
    audit_record(action="membership.add", actor=actor, target=organisation, metadata={"role": role})
    return membership


# --- API keys ---------------------------------------------------------------------------------


def _check_scopes(scopes: Iterable[str], *, allowed: dict[str, str]) -> list[str]:
    scopes = sorted(set(scopes))
    unknown = [s for s in scopes if s not in allowed]
    if unknown:
        raise ValidationFailed(
            f"Unknown or not allowed scope(s): {', '.join(unknown)}.",
            detail={"scopes": unknown, "allowed": sorted(allowed)},
        )
    if not scopes:
        raise ValidationFailed("A key needs at least one scope.", detail={"scopes": "required"})
    return scopes


@transaction.atomic
def api_key_create(
    *,
    organisation: Organisation | None = None,
    user: User | None = None,
    name: str,
    scopes: Iterable[str],
    created_by: User | None,
    expires_at: datetime | None = None,
) -> tuple[ApiKey, str]:
    """Create an organisation API key or a personal token; the plaintext is returned only here."""
    if (organisation is None) == (user is None):
        raise ValidationFailed("A key belongs to exactly one organisation or one user.")
    allowed = scope_names.ORGANISATION_SCOPES if organisation else scope_names.PERSONAL_SCOPES
    checked = _check_scopes(scopes, allowed=allowed)
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationFailed("The expiry date must be in the future.")
    secret = secrets.token_urlsafe(32)
    while True:
        prefix = secrets.token_hex(6)
        if not ApiKey.objects.filter(prefix=prefix).exists():
            break
    key = ApiKey.objects.create(
        organisation=organisation,
        user=user,
        name=(name or "key").strip()[:100],
        prefix=prefix,
        secret_hash=hash_secret(secret),
        scopes=checked,
        created_by=created_by,
        expires_at=expires_at,
    )
    audit_record(
        action="api_key.create",
        actor=created_by,
        target=key,
        metadata={"scopes": checked, "organisation": organisation.pk if organisation else None},
    )
    return key, f"{KEY_PREFIX}_{prefix}_{secret}"


def api_key_revoke(*, key: ApiKey, actor: User | None) -> ApiKey:
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        audit_record(action="api_key.revoke", actor=actor, target=key)
    return key


def api_key_revoke_for(*, key_id: int, actor: User) -> ApiKey:
    """Revoke a key the actor controls: their own token, or a key of an organisation they own."""
    key = ApiKey.objects.filter(pk=key_id).first()
    if key is None:
        raise NotFound("No such key.")
    if key.user_id is not None and key.user_id != actor.pk:
        raise NotFound("No such key.")
    if key.organisation_id is not None:
        role = (
            Membership.objects.filter(organisation_id=key.organisation_id, user=actor)
            .values_list("role", flat=True)
            .first()
        )
        if role is None:
            raise NotFound("No such key.")
        if role != MembershipRole.OWNER:
            raise PermissionDeniedError("Only an owner can revoke the organisation's keys.")
    return api_key_revoke(key=key, actor=actor)


# --- People -----------------------------------------------------------------------------------


class _EmailVerificationTokens(PasswordResetTokenGenerator):
    """One-time email verification links: the hash covers ``email_verified_at``, so a link stops
    working once used, and the email, so it stops working if the address changes."""

    key_salt = "registry.services.email_verification"

    def _make_hash_value(self, user, timestamp):
        verified = "" if user.email_verified_at is None else user.email_verified_at.isoformat()
        return f"{user.pk}{user.email}{verified}{timestamp}"


email_verification_tokens = _EmailVerificationTokens()


def _validate_password(password: str, user: User) -> None:
    try:
        password_validation.validate_password(password, user)
    except DjangoValidationError as exc:
        raise ValidationFailed(
            "password: " + " ".join(exc.messages), detail={"password": exc.messages}
        ) from None


@transaction.atomic
def person_create(*, email: str, display_name: str, password: str | None = None) -> Person:
    """A login account and its person. Without a password the account cannot sign in until a
    password is set (people created by operators with ``manage.py enroll``)."""
    email = User.objects.normalize_email((email or "").strip()).lower()
    try:
        validate_email(email)
    except DjangoValidationError:
        raise ValidationFailed(
            "email: Enter a valid email address.", detail={"email": "invalid"}
        ) from None
    display_name = (display_name or "").strip()
    if not display_name:
        raise ValidationFailed(
            "display_name: A name is required.", detail={"display_name": "required"}
        )
    if User.objects.filter(email__iexact=email).exists():
        raise Conflict(
            "An account with this email address already exists.", detail={"email": "taken"}
        )
    user = User(email=email)
    if password is not None:
        _validate_password(password, user)
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.save()
    person = Person.objects.create(user=user, display_name=display_name[:200])
    audit_record(action="person.create", actor=user, target=person)
    return person


def email_verification_send(*, user: User) -> str:
    """Email a one-time verification link; returns the link (for the console and tests)."""
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = email_verification_tokens.make_token(user)
    link = f"{settings.SITE_URL}{reverse('verify-email', args=[uid, token])}"
    send_mail(
        subject="Confirm your email address for the Likeness Registry",
        message=(
            "Open this link to confirm your email address:\n\n"
            f"{link}\n\nIf you did not sign up, ignore this message."
        ),
        from_email=None,
        recipient_list=[user.email],
    )
    return link


def email_verify(*, uid: str, token: str) -> User:
    """Mark the email verified from a link; a used, expired or forged link is a clear 400."""
    try:
        pk = int(force_str(urlsafe_base64_decode(uid)))
        user = User.objects.select_related("person").get(pk=pk)
    except (ValueError, TypeError, OverflowError, User.DoesNotExist):
        raise ValidationFailed(
            "This verification link is not valid.", code="invalid_link"
        ) from None
    if not email_verification_tokens.check_token(user, token):
        raise ValidationFailed(
            "This verification link is not valid, expired or was already used.",
            code="invalid_link",
        )
    with transaction.atomic():
        user.email_verified_at = timezone.now()
        user.save(update_fields=["email_verified_at"])
        person = getattr(user, "person", None)
        if person is not None:
            _assurance_refresh(person)
    audit_record(action="email.verify", actor=user, target=person)
    return user


def _assurance_refresh(person: Person) -> Person:
    """Recompute the assurance level from the facts: an unrevoked attestation by a verifier
    organisation, else a verified email, else self-asserted."""
    if person.attestations.filter(
        revoked_at__isnull=True, verifier__kind=OrganisationKind.VERIFIER
    ).exists():
        level = AssuranceLevel.VERIFIED
    elif person.user_id and person.user.email_verified_at is not None:
        level = AssuranceLevel.EMAIL_VERIFIED
    else:
        level = AssuranceLevel.SELF_ASSERTED
    if person.assurance != level:
        person.assurance = level
        person.save(update_fields=["assurance"])
    return person


def person_update(*, person: Person, display_name: str | None = None, keep_photos=None) -> Person:
    fields = []
    if display_name is not None:
        if not display_name.strip():
            raise ValidationFailed("display_name: A name is required.")
        person.display_name = display_name.strip()[:200]
        fields.append("display_name")
    if keep_photos is not None:
        person.keep_photos = bool(keep_photos)
        fields.append("keep_photos")
        if not person.keep_photos:
            # Choosing not to keep photos destroys the ones already kept.
            person.photos.all().delete()
    if fields:
        person.save(update_fields=fields)
    return person


def person_suspend(*, person: Person, actor: User | None, suspended: bool = True) -> Person:
    person.suspended_at = timezone.now() if suspended else None
    person.save(update_fields=["suspended_at"])
    audit_record(
        action="person.suspend" if suspended else "person.unsuspend", actor=actor, target=person
    )
    return person


def organisation_suspend(
    *, organisation: Organisation, actor: User | None, suspended: bool = True
) -> Organisation:
    organisation.suspended_at = timezone.now() if suspended else None
    organisation.save(update_fields=["suspended_at"])
    audit_record(
        action="organisation.suspend" if suspended else "organisation.unsuspend",
        actor=actor,
        target=organisation,
    )
    return organisation


# --- Attestations -----------------------------------------------------------------------------


@transaction.atomic
def attestation_record(
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
    from consent import services as consent_services

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
    _assurance_refresh(person)
    audit_record(
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
        _assurance_refresh(attestation.person)
        audit_record(
            action="attestation.revoke",
            actor=actor,
            target=attestation.person,
            metadata={"attestation": attestation.pk},
        )
    return attestation


# --- Enrollment -------------------------------------------------------------------------------


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


def _analyse_photo(filename: str, data: bytes, engine) -> tuple[PhotoOutcome, Any]:
    """Decode and analyse one photo; returns its outcome and, when accepted, the face."""
    if len(data) > settings.MAX_IMAGE_BYTES:
        return PhotoOutcome(
            filename,
            False,
            f"file too large: {len(data) / 1e6:.1f} MB, limit "
            f"{settings.MAX_IMAGE_BYTES / 1e6:.0f} MB",
        ), None
    try:
        image = decode_image(data, max_pixels=settings.MAX_IMAGE_PIXELS)
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


def person_enroll(*, person: Person, images: list[tuple[str, bytes]]) -> EnrollmentResult:
    """Turn reference photos into protected face templates, one verdict per photo.

    Accepted photos are kept even when others are rejected. A person holds at most
    ``ENROLLMENT_MAX_PHOTOS`` templates; photos beyond the cap are rejected with that reason.
    The photo itself is discarded once its template exists, unless the person chose to keep
    photos, in which case it is stored encrypted (AES-GCM).
    """
    from matching.engine import get_engine

    engine = get_engine()
    limit = settings.ENROLLMENT_MAX_PHOTOS
    # Face analysis is slow, so it runs before the row lock is taken.
    analysed = [(*_analyse_photo(name, data, engine), data) for name, data in images]

    version = current_template_key_version()
    key = template_key(version)
    with transaction.atomic():
        person = Person.objects.select_for_update().get(pk=person.pk)
        opted_out = _optout_flag_locked(person.pk)
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
            known.append(np.asarray(face.vector, dtype=np.float32))
            template = FaceTemplate.objects.create(
                person=person,
                embedding=protect(face.vector, key),
                key_version=version,
                model_name=face.model_name,
                model_version=face.model_version,
                quality=float(face.quality.score),
                face_px=int(face.quality.size_px),
                opted_out=opted_out,
            )
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
            # New photos count as a confirmation that the person still wants to be protected.
            person.templates_confirmed_at = timezone.now()
            person.retention_reminded_at = None
            person.save(update_fields=["templates_confirmed_at", "retention_reminded_at"])
    result = EnrollmentResult(photos=[o for o, _f, _d in analysed], templates_total=count)
    logger.info(
        "enrollment person=%s accepted=%d rejected=%d",
        person.pk,
        len(result.accepted),
        len(result.rejected),
    )
    return result


def _raw_templates(person: Person, *, model_name: str) -> list[np.ndarray]:
    """The person's stored embeddings from ``model_name``, unprotected (kept in memory only)."""
    return [
        unprotect(template.embedding, template_key(template.key_version))
        for template in person.templates.filter(model_name=model_name)
    ]


def templates_optout_sync(*, person_id: int) -> None:
    """Set the person's templates' ``opted_out`` flag from their consent records.

    Called in the same transaction as every opt-out and every revocation of one, so the flag
    commits with the decision: checks search only flagged templates (their partial HNSW index),
    and a flag out of step would hide an opted-out person from the very next check.
    """
    with transaction.atomic():
        opted_out = _optout_flag_locked(person_id)
        FaceTemplate.objects.filter(person_id=person_id).exclude(opted_out=opted_out).update(
            opted_out=opted_out
        )


# First key of pg_advisory_xact_lock(int, int) for a person's opt-out flag (second: the person).
_OPTOUT_FLAG_LOCK = 6006


def _optout_flag_locked(person_id: int) -> bool:
    """Whether the person has an active opt-out, read under a per-person transaction lock.

    Enrollment and ``templates_optout_sync`` take the same lock before reading, so a template
    enrolled while an opt-out commits is either seen by the sync's UPDATE or sees the opt-out
    itself (READ COMMITTED: each statement after the lock reads what committed before it). An
    advisory lock rather than the person row's: revocation already holds the record's row lock,
    and erasure takes the person's and then the records', so a row lock here could deadlock.
    """
    from consent import selectors as consent_selectors

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, (%s %% 2147483647)::int)",
            [_OPTOUT_FLAG_LOCK, person_id],
        )
    return consent_selectors.person_has_active_optout(person_id=person_id)


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


# --- Erasure and export -----------------------------------------------------------------------


def person_erase(*, person: Person, actor: User | None = None) -> None:
    """Destroy the person at once: templates, photos, attestations, personal fields, account.

    Signed consent records keep only commitments (the consent app decides, before the person row
    goes); audit events keep ids only, and the person's public id is scrubbed from them.
    """
    from consent import services as consent_services

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


def person_export(*, person: Person) -> dict[str, Any]:
    """Everything the registry holds about the person, as JSON-ready data."""
    user = person.user
    photos = {photo.template_id: photo for photo in ReferencePhoto.objects.filter(person=person)}
    data: dict[str, Any] = {
        "format": "likeness-registry-export/1",
        "exported_at": timezone.now().isoformat(),
        "person": {
            "subject": person.public_id,
            "display_name": person.display_name,
            "handle": person.handle,
            "assurance": person.assurance,
            "keep_photos": person.keep_photos,
            "templates_confirmed_at": _iso(person.templates_confirmed_at),
            "suspended_at": _iso(person.suspended_at),
            "created_at": _iso(person.created_at),
        },
        "account": {
            "email": user.email if user else None,
            "email_verified_at": _iso(user.email_verified_at) if user else None,
            "date_joined": _iso(user.date_joined) if user else None,
            "last_login": _iso(user.last_login) if user else None,
        },
        "templates": [],
        "attestations": [
            {
                "verifier": a.verifier.name,
                "method": a.method,
                "attested_at": _iso(a.attested_at),
                "revoked_at": _iso(a.revoked_at),
            }
            for a in person.attestations.select_related("verifier").order_by("attested_at")
        ],
        "organisations": [
            {"organisation": m.organisation.name, "role": m.role, "since": _iso(m.created_at)}
            for m in (user.memberships.select_related("organisation") if user else [])
        ],
        "personal_tokens": [
            {
                "name": k.name,
                "prefix": k.prefix,
                "scopes": k.scopes,
                "created_at": _iso(k.created_at),
                "last_used_at": _iso(k.last_used_at),
                "revoked_at": _iso(k.revoked_at),
            }
            for k in (user.personal_tokens.all() if user else [])
        ],
    }
    for template in person.templates.order_by("created_at"):
        entry = {
            "id": template.pk,
            "model_name": template.model_name,
            "model_version": template.model_version,
            "quality": template.quality,
            "face_px": template.face_px,
            "created_at": _iso(template.created_at),
            # The person's own biometric data, unprotected: it is theirs to take elsewhere.
            "embedding": [
                round(float(x), 6)
                for x in unprotect(template.embedding, template_key(template.key_version))
            ],
        }
        photo = photos.get(template.pk)
        if photo is not None:
            try:
                raw = decrypt_photo(
                    photo.ciphertext, key=settings.PHOTO_ENCRYPTION_KEY, owner=person.public_id
                )
                entry["photo"] = {
                    "content_type": photo.content_type,
                    "base64": base64.b64encode(raw).decode(),
                }
            except PhotoDecryptionError:
                entry["photo"] = {"error": "the kept photo could not be decrypted"}
        data["templates"].append(entry)
    from consent import selectors as consent_selectors

    data["consent"] = consent_selectors.person_export(person=person)
    return data


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


# --- Retention --------------------------------------------------------------------------------


def retention_sweep(*, now: datetime | None = None) -> dict[str, int]:
    """Remind people whose templates are close to expiry, purge templates after the reminder.

    A person's templates expire ``RETENTION_TEMPLATE_DAYS`` after their last confirmation (or
    enrollment, or account creation). The reminder goes out ``RETENTION_REMINDER_DAYS`` before;
    templates are purged only once a reminder was sent for this period and that long has passed
    since it, so nobody loses their templates without warning.
    """
    now = now or timezone.now()
    period = timedelta(days=settings.RETENTION_TEMPLATE_DAYS)
    notice = timedelta(days=settings.RETENTION_REMINDER_DAYS)
    reminded = purged = 0
    candidates = (
        Person.objects.filter(templates__isnull=False)
        .annotate(reference=Coalesce("templates_confirmed_at", "created_at"))
        .filter(reference__lte=now - period + notice)
        .distinct()
        .select_related("user")
    )
    for person in candidates:
        expires = person.reference + period
        if person.retention_reminded_at is None or person.retention_reminded_at < person.reference:
            if person.user is not None:
                _send_retention_reminder(person, expires=max(expires, now + notice))
            Person.objects.filter(pk=person.pk).update(retention_reminded_at=now)
            reminded += 1
        elif now >= expires and now >= person.retention_reminded_at + notice:
            with transaction.atomic():
                ReferencePhoto.objects.filter(person=person).delete()
                FaceTemplate.objects.filter(person=person).delete()
            audit_record(action="retention.purge", target=person)
            purged += 1
    logger.info("retention sweep reminded=%d purged=%d", reminded, purged)
    return {"reminded": reminded, "purged": purged}


def _send_retention_reminder(person: Person, *, expires: datetime) -> None:
    send_mail(
        subject="Confirm your face templates in the Likeness Registry",
        message=(
            "Your registered face templates will be deleted on "
            f"{expires.date().isoformat()} unless you confirm you still want them.\n\n"
            f"Confirm here: {settings.SITE_URL}{reverse('me')}\n"
        ),
        from_email=None,
        recipient_list=[person.user.email],
    )


# --- Template key rotation --------------------------------------------------------------------


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
