"""Who a consent API request acts for, or a 403 that says how to act for them.

People act with their session or a personal token; organisations with an API key, or a
member's session naming the organisation in the X-Organisation header.
"""

from __future__ import annotations

from rest_framework.request import Request

from registry.lib.errors import PermissionDeniedError
from registry.models import Organisation, Person, User
from registry.permissions import request_organisation, request_person


def person_or_403(request: Request) -> Person:
    person = request_person(request)
    if person is None:
        raise PermissionDeniedError("This account has no person in the registry.")
    return person


def organisation_or_403(request: Request) -> Organisation:
    organisation = request_organisation(request)
    if organisation is None:
        raise PermissionDeniedError(
            "Act for an organisation: use its API key, or name it in the X-Organisation header."
        )
    return organisation


def acting_user(request: Request) -> User | None:
    """The user account behind the request, recorded as who made a change.

    None for an organisation's API key: it acts for the organisation, not for a person.
    """
    user = request.user
    return user if isinstance(user, User) else None
