"""Scope permissions and who a request acts for.

``permission_classes = [HasScopes.require("checks:write")]`` or ``permission_classes =
[HasScope]`` with ``required_scopes = [...]`` and/or ``scopes_by_method = {"GET": [...]}`` on the
view; a requirement may be ``scopes.any_of(a, b)``. Every API operation is guarded this way or is
explicitly public (``AllowAny``): ``tests/registry/test_every_route_declares_its_scope.py``
walks the URL conf.

API keys hold exactly the scopes they were created with (organisation keys also see their own
organisation, ``scopes.ORGANISATION_KEY_IMPLIED_SCOPES``); session users hold the personal scopes
for themselves and, for an organisation they belong to, the organisation scopes of their role.
Which organisation that is: the one a view's URL names (``organisation_url_kwarg``), else the
``X-Organisation`` header, else the user's only membership.
"""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission

from registry import scopes
from registry.models import ApiKey, Membership, Organisation, Person, User

ORGANISATION_HEADER = "X-Organisation"


def request_api_key(request) -> ApiKey | None:
    auth = getattr(request, "auth", None)
    return auth if isinstance(auth, ApiKey) else None


def request_session_user(request) -> User | None:
    """The signed-in user of a session request; None for API keys and anonymous callers."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or request_api_key(request) is not None:
        return None
    return user


def request_organisation(request) -> Organisation | None:
    """The organisation the request acts for: an organisation key's, or for a session user the
    organisation named by the ``X-Organisation`` header (slug) among their memberships, or their
    only membership. None for personal tokens and anonymous callers."""
    key = request_api_key(request)
    if key is not None:
        return key.organisation if key.organisation_id else None
    user = request_session_user(request)
    if user is None:
        return None
    membership = _session_membership(request, user)
    return membership.organisation if membership else None


def _session_membership(request, user) -> Membership | None:
    cached = getattr(request, "_registry_membership", False)
    if cached is not False:
        return cached
    memberships = Membership.objects.select_related("organisation").filter(
        user=user, organisation__suspended_at__isnull=True
    )
    slug = request.headers.get(ORGANISATION_HEADER)
    if slug:
        membership = memberships.filter(organisation__slug=slug).first()
    else:
        found = list(memberships[:2])
        membership = found[0] if len(found) == 1 else None
    request._registry_membership = membership
    return membership


def request_person(request) -> Person | None:
    """The person the request acts as: a personal token's owner or the signed-in user."""
    key = request_api_key(request)
    user = request_session_user(request) if key is None else key.user
    if user is None:
        return None
    return Person.objects.filter(user=user).first()


def _url_membership(user, slug: str) -> Membership | None:
    return (
        Membership.objects.select_related("organisation")
        .filter(user=user, organisation__slug=slug, organisation__suspended_at__isnull=True)
        .first()
    )


def request_scopes(request, view: Any = None) -> frozenset[str]:
    """The scopes the caller holds. For a session on a view whose URL names an organisation
    (``view.organisation_url_kwarg``), the role in that organisation decides, not the header."""
    key = request_api_key(request)
    if key is not None:
        held = frozenset(key.scopes or [])
        if key.organisation_id:
            held |= scopes.ORGANISATION_KEY_IMPLIED_SCOPES
        return held
    user = request_session_user(request)
    if user is None:
        return frozenset()
    held = set(scopes.SESSION_PERSONAL_SCOPES)
    url_kwarg = getattr(view, "organisation_url_kwarg", None)
    if url_kwarg and url_kwarg in (getattr(view, "kwargs", None) or {}):
        membership = _url_membership(user, view.kwargs[url_kwarg])
    else:
        membership = _session_membership(request, user)
    if membership is not None:
        held |= scopes.SESSION_ORGANISATION_SCOPES.get(membership.role, frozenset())
    return frozenset(held)


def scopes_required(view: Any, method: str, extra: tuple = ()) -> set:
    """What ``HasScope`` asks of a caller of ``view`` with ``method``: scope names and
    ``scopes.AnyOf`` alternatives."""
    method = "GET" if method.upper() == "HEAD" else method.upper()
    needed = set(extra) | set(getattr(view, "required_scopes", ()) or ())
    needed |= set((getattr(view, "scopes_by_method", None) or {}).get(method, ()))
    return needed


class HasScope(BasePermission):
    """Authenticated, and holding every scope in ``required_scopes`` (class or view attribute)
    and in the view's ``scopes_by_method[request.method]``. An operation that needs no scope
    at all is refused: a view that forgot to declare one must not fall back to "any caller"."""

    required_scopes: tuple = ()
    message = "This key does not have the scope this operation needs."

    def has_permission(self, request, view: Any) -> bool:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return False  # DRF turns this into 401 (NotAuthenticated)
        needed = scopes_required(view, request.method, tuple(self.required_scopes))
        if not needed:
            self.message = "This operation declares no scope, so nobody may call it."
            return False
        held = request_scopes(request, view)
        missing = [
            str(need) if isinstance(need, scopes.AnyOf) else need
            for need in needed
            if not (need & held if isinstance(need, scopes.AnyOf) else need in held)
        ]
        if missing:
            self.message = (
                "This credential lacks the scope(s) this operation needs: "
                + ", ".join(sorted(missing))
                + "."
            )
            return False
        return True


class HasScopes:
    @staticmethod
    def require(*required: str | scopes.AnyOf) -> type[HasScope]:
        names = set()
        for need in required:
            names |= need if isinstance(need, scopes.AnyOf) else {need}
        unknown = names - set(scopes.ALL_SCOPES)
        if unknown:
            raise ValueError(f"unknown scopes: {sorted(unknown)}")
        return type(
            "HasScopes_" + "_".join(str(s).replace(":", "_").replace(" ", "_") for s in required),
            (HasScope,),
            {"required_scopes": tuple(required)},
        )


class IsPerson(BasePermission):
    """The caller is a person (session or personal token), not an organisation key."""

    message = "Only a person's own session or personal token can do this."

    def has_permission(self, request, view: Any) -> bool:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return False
        key = request_api_key(request)
        return key is None or key.user_id is not None
