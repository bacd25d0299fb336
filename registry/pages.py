"""What the server-rendered pages of every app share: finding the signed-in person."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from registry.models import Person


def person_of(request: HttpRequest) -> Person | None:
    """The signed-in account's person, or None (staff and organisation-only accounts have none)."""
    if not request.user.is_authenticated:
        return None
    return Person.objects.filter(user=request.user).first()


def person_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Sign-in required; the view is called as ``view(request, person, ...)``.

    An account with no person in the registry gets a page that says so and how to get one,
    instead of an error.
    """

    @login_required
    @wraps(view)
    def with_person(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        person = person_of(request)
        if person is None:
            return render(request, "registry/no_person.html")
        return view(request, person, *args, **kwargs)

    return with_person
