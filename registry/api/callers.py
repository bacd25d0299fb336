"""Who an API request acts for, or the error that says it may not: the registry views' checks
beyond the permission classes (``registry.permissions``)."""

from __future__ import annotations

from registry.lib.errors import NotFound, PermissionDeniedError
from registry.models import Person, User
from registry.permissions import request_person, request_session_user


def person_or_404(request) -> Person:
    person = request_person(request)
    if person is None:
        raise NotFound("There is no person for this account.")
    return person


def session_user(request) -> User:
    """The signed-in user; an API key (organisation key or personal token) is refused."""
    user = request_session_user(request)
    if user is None:
        raise PermissionDeniedError("Only a signed-in person can do this, not an API key.")
    return user
