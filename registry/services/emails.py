"""Email addresses as the registry stores them: one normal form for sign-up, invitations and
operator-created owners, so an address typed in any case finds the same account."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email

from registry.models import User


def email_normalised(raw: str | None) -> str | None:
    """The address trimmed, normalised and lower-cased; None when it is not a valid address
    (each caller says so in its own words)."""
    email = User.objects.normalize_email((raw or "").strip()).lower()
    try:
        validate_email(email)
    except DjangoValidationError:
        return None
    return email
