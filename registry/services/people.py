"""People's accounts: sign-up (account and person), email verification, the assurance level,
profile changes and suspension."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode

from registry.lib.errors import Conflict, ValidationFailed
from registry.models import AssuranceLevel, OrganisationKind, Person, User
from registry.services.audit import audit_record
from registry.services.emails import email_normalised


class _EmailVerificationTokens(PasswordResetTokenGenerator):
    """One-time email verification links: the hash covers ``email_verified_at``, so a link stops
    working once used, and the email, so it stops working if the address changes."""

    # The salt is part of every link already sent: it keeps the name of the module it was
    # written in, so moving the code does not invalidate outstanding links.
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
    email = email_normalised(email)
    if email is None:
        raise ValidationFailed("email: Enter a valid email address.", detail={"email": "invalid"})
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


def email_verification_send(*, user: User, site_url: str | None = None) -> str:
    """Email a one-time verification link; returns the link (for the console and tests).

    ``site_url`` is the address the person reached the site on (``registry.site.site_url``);
    without it the link uses ``SITE_URL``."""
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = email_verification_tokens.make_token(user)
    link = f"{site_url or settings.SITE_URL}{reverse('verify-email', args=[uid, token])}"
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
            assurance_refresh(person=person)
    audit_record(action="email.verify", actor=user, target=person)
    return user


def assurance_refresh(*, person: Person) -> Person:
    """Recompute the assurance level from the facts: an unrevoked attestation by a verifier
    organisation, else a passed live selfie capture, else a verified email, else
    self-asserted."""
    if person.attestations.filter(
        revoked_at__isnull=True, verifier__kind=OrganisationKind.VERIFIER
    ).exists():
        level = AssuranceLevel.VERIFIED
    elif person.liveness_passed_at is not None:
        level = AssuranceLevel.LIVENESS
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
