"""What the server-rendered pages of every app share: finding the signed-in person, and the
organisation a page is about (``organisation_page``)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme

from registry.models import Membership, MembershipRole, Person

# The organisation the signed-in user last worked in (its slug), for the header's switcher.
CURRENT_ORGANISATION_SESSION_KEY = "organisation"


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


def organisation_page(
    view: Callable[..., HttpResponse] | None = None, *, owner: bool = False
) -> Callable[..., HttpResponse]:
    """Sign-in required, and membership of the organisation the URL's ``slug`` names; the view
    is called as ``view(request, membership, ...)``.

    The same roles the API checks: any member may look, ``owner=True`` pages and actions are
    for owners only (others get a 403 page that says so). An organisation the user does not
    belong to, or a suspended one, is a 404, so nobody learns which organisations exist. The
    organisation becomes the current one of the header's switcher.
    """

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @login_required
        @wraps(view)
        def with_membership(request: HttpRequest, slug: str, *args, **kwargs) -> HttpResponse:
            membership = (
                Membership.objects.select_related("organisation")
                .filter(user=request.user, organisation__slug=slug)
                .filter(organisation__suspended_at__isnull=True)
                .first()
            )
            if membership is None:
                raise Http404("No such organisation.")
            if owner and membership.role != MembershipRole.OWNER:
                return render(
                    request,
                    "registry/orgs/owners_only.html",
                    {"organisation": membership.organisation},
                    status=403,
                )
            request.session[CURRENT_ORGANISATION_SESSION_KEY] = slug
            return view(request, membership, *args, **kwargs)

        return with_membership

    return decorate(view) if view is not None else decorate


def safe_next(request: HttpRequest, fallback: str) -> str:
    """The ``next`` parameter when it points into this site, else ``fallback``."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback
