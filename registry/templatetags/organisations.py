"""``{% organisation_switcher %}``: the header's organisation switcher (base.html)."""

from __future__ import annotations

from django import template

from registry import selectors
from registry.pages import CURRENT_ORGANISATION_SESSION_KEY

register = template.Library()


@register.inclusion_tag("registry/orgs/_switcher.html", takes_context=True)
def organisation_switcher(context) -> dict:
    """The current organisation (kept in the session) and the others the user may switch to;
    nothing for users who belong to none."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"current": None, "others": []}
    memberships = selectors.user_memberships(user=user)
    if not memberships:
        return {"current": None, "others": [], "csrf_token": context.get("csrf_token")}
    slug = request.session.get(CURRENT_ORGANISATION_SESSION_KEY)
    current = next((m.organisation for m in memberships if m.organisation.slug == slug), None)
    current = current or memberships[0].organisation
    others = [m.organisation for m in memberships if m.organisation.pk != current.pk]
    return {"current": current, "others": others, "csrf_token": context.get("csrf_token")}
