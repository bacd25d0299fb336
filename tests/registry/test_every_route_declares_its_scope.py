"""Every API route says who may call it: a scope for each method, or explicitly public.

One permission mechanism (``registry.permissions.HasScope``) guards every operation; a view that
forgets it would fall back to "any signed-in caller", which for an organisation key means any
scope. This walks the URL conf, so a new route cannot slip through.
"""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.permissions import AllowAny

from registry.permissions import HasScope

HTTP_METHODS = ("get", "post", "put", "patch", "delete")


def _api_views(patterns=None, prefix=""):
    for pattern in patterns if patterns is not None else get_resolver().url_patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _api_views(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern) and route.startswith("api/v1/"):
            view_class = getattr(pattern.callback, "cls", None)
            if view_class is not None:
                yield route, view_class


def _scopes_for(view_class, method: str) -> set[str]:
    scopes: set[str] = set(getattr(view_class, "required_scopes", ()) or ())
    scopes |= set((getattr(view_class, "scopes_by_method", None) or {}).get(method.upper(), ()))
    for permission in view_class.permission_classes:
        if isinstance(permission, type) and issubclass(permission, HasScope):
            scopes |= set(permission.required_scopes)
    return scopes


def test_every_api_operation_needs_a_scope_or_is_explicitly_public():
    undeclared = []
    routes = list(_api_views())
    assert len(routes) > 30
    for route, view_class in routes:
        permissions = list(view_class.permission_classes)
        public = AllowAny in permissions
        guarded = any(isinstance(p, type) and issubclass(p, HasScope) for p in permissions)
        for method in HTTP_METHODS:
            if not hasattr(view_class, method):
                continue
            if public:
                continue
            if not guarded or not _scopes_for(view_class, method):
                undeclared.append(f"{method.upper()} /{route} ({view_class.__name__})")
    assert undeclared == []
