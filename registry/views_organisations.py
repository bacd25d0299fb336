"""Organisation pages: a user's organisations, an organisation's overview, its members and
invitations, and its API keys.

Thin, like the API: reads through selectors, writes through services, a service's error
message shown to the person. Who may do what is ``registry.pages.organisation_page``: any member
looks, owners change (the roles the API checks). The webhooks page is consent's.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from registry import selectors, services
from registry.forms import InvitationForm, OrganisationForm, OrganisationKeyForm
from registry.lib.errors import RegistryError
from registry.models import AssuranceLevel, Membership, MembershipRole
from registry.pages import CURRENT_ORGANISATION_SESSION_KEY, organisation_page
from registry.site import site_url

# --- A user's organisations -----------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def organisations(request: HttpRequest) -> HttpResponse:
    form = OrganisationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            organisation = services.organisation_create(owner=request.user, **form.cleaned_data)
        except RegistryError as error:
            form.add_error(None, error.message)
        else:
            request.session[CURRENT_ORGANISATION_SESSION_KEY] = organisation.slug
            messages.success(request, f"{organisation.name} is created; you are its owner.")
            return redirect("org-overview", slug=organisation.slug)
    memberships = selectors.user_memberships(user=request.user)
    return render(request, "registry/orgs/list.html", {"form": form, "memberships": memberships})


@login_required
@require_POST
def organisation_switch(request: HttpRequest) -> HttpResponse:
    slug = request.POST.get("organisation", "")
    if not any(m.organisation.slug == slug for m in selectors.user_memberships(user=request.user)):
        raise Http404("No such organisation.")
    request.session[CURRENT_ORGANISATION_SESSION_KEY] = slug
    return redirect("org-overview", slug=slug)


@organisation_page
def overview(request: HttpRequest, membership: Membership) -> HttpResponse:
    organisation = membership.organisation
    return render(
        request,
        "registry/orgs/overview.html",
        {
            "organisation": organisation,
            "membership": membership,
            "is_owner": membership.role == MembershipRole.OWNER,
            "members": selectors.organisation_members(organisation=organisation),
            "assurance_levels": AssuranceLevel.choices,
        },
    )


@organisation_page(owner=True)
@require_POST
def policy(request: HttpRequest, membership: Membership) -> HttpResponse:
    """The organisation's blocking policy: the lowest assurance level whose opt-out blocks."""
    try:
        services.organisation_policy_set(
            organisation=membership.organisation,
            block_min_assurance=request.POST.get("block_min_assurance", ""),
            actor=request.user,
        )
    except RegistryError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, "Policy saved: it applies from the next check.")
    return redirect("org-overview", slug=membership.organisation.slug)


# --- Members and invitations ----------------------------------------------------------------


def _render_members(request, membership, form=None, status=200) -> HttpResponse:
    organisation = membership.organisation
    is_owner = membership.role == MembershipRole.OWNER
    everyone = selectors.organisation_members(organisation=organisation)
    return render(
        request,
        "registry/orgs/members.html",
        {
            "organisation": organisation,
            "membership": membership,
            "is_owner": is_owner,
            "members": everyone,
            # The last owner is offered no Remove button (the service refuses it anyway).
            "sole_owner": sum(m.role == MembershipRole.OWNER for m in everyone) == 1,
            "invitations": selectors.organisation_invitations_pending(organisation=organisation)
            if is_owner
            else [],
            "form": form or InvitationForm(),
            "roles": MembershipRole.choices,
        },
        status=status,
    )


@organisation_page
@require_http_methods(["GET"])
def members(request: HttpRequest, membership: Membership) -> HttpResponse:
    return _render_members(request, membership)


@organisation_page(owner=True)
@require_POST
def member_invite(request: HttpRequest, membership: Membership) -> HttpResponse:
    form = InvitationForm(request.POST)
    if form.is_valid():
        try:
            services.membership_invite(
                organisation=membership.organisation,
                invited_by=request.user,
                site_url=site_url(request),
                **form.cleaned_data,
            )
        except RegistryError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, f"Invitation sent to {form.cleaned_data['email']}.")
            return redirect("org-members", slug=membership.organisation.slug)
    return _render_members(request, membership, form=form, status=400)


def _member_of(membership: Membership, member_id: int) -> Membership:
    member = (
        Membership.objects.select_related("user", "organisation")
        .filter(organisation=membership.organisation, pk=member_id)
        .first()
    )
    if member is None:
        raise Http404("No such member.")
    return member


@organisation_page(owner=True)
@require_POST
def member_role(request: HttpRequest, membership: Membership, member_id: int) -> HttpResponse:
    member = _member_of(membership, member_id)
    try:
        services.membership_role_set(
            membership=member, role=request.POST.get("role", ""), actor=request.user
        )
    except RegistryError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"{member.user.email} is now {member.get_role_display()}.")
    return redirect("org-members", slug=membership.organisation.slug)


@organisation_page(owner=True)
@require_http_methods(["GET", "POST"])
def member_remove(request: HttpRequest, membership: Membership, member_id: int) -> HttpResponse:
    member = _member_of(membership, member_id)
    slug = membership.organisation.slug
    if request.method == "GET":
        return render(
            request,
            "registry/orgs/confirm.html",
            {
                "organisation": membership.organisation,
                "title": "Remove a member",
                "question": f"Remove {member.user.email} from {membership.organisation.name}? "
                "They lose access to its pages at once.",
                "button": "Remove member",
                "back": reverse("org-members", args=[slug]),
            },
        )
    try:
        services.membership_remove(membership=member, actor=request.user)
    except RegistryError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"{member.user.email} was removed.")
    if member.user_id == request.user.pk and not Membership.objects.filter(pk=member.pk).exists():
        return redirect("orgs")
    return redirect("org-members", slug=slug)


@organisation_page(owner=True)
@require_POST
def invitation_cancel(
    request: HttpRequest, membership: Membership, invitation_id: int
) -> HttpResponse:
    invitation = membership.organisation.invitations.filter(pk=invitation_id).first()
    if invitation is None:
        raise Http404("No such invitation.")
    services.invitation_cancel(invitation=invitation, actor=request.user)
    messages.success(request, f"The invitation to {invitation.email} is cancelled.")
    return redirect("org-members", slug=membership.organisation.slug)


@never_cache
@require_http_methods(["GET", "POST"])
def invitation(request: HttpRequest, token: str) -> HttpResponse:
    """The link in an invitation email: sign in (or sign up) with the invited address, then
    accept. The link itself is the secret, so the page shows only the organisation's name."""
    try:
        found = services.invitation_for_token(token=token)
    except RegistryError as error:
        return render(
            request, "registry/orgs/invitation.html", {"error": error.message}, status=404
        )
    context = {"invitation": found, "organisation": found.organisation, "next": request.path}
    if request.method == "POST" and request.user.is_authenticated:
        try:
            joined = services.invitation_accept(token=token, user=request.user)
        except RegistryError as error:
            context["error"] = error.message
            return render(
                request, "registry/orgs/invitation.html", context, status=error.status_code
            )
        request.session[CURRENT_ORGANISATION_SESSION_KEY] = joined.organisation.slug
        messages.success(request, f"You joined {joined.organisation.name}.")
        return redirect("org-overview", slug=joined.organisation.slug)
    if request.user.is_authenticated:
        context["email_matches"] = request.user.email.lower() == found.email.lower()
    return render(request, "registry/orgs/invitation.html", context)


# --- API keys -------------------------------------------------------------------------------


def _render_keys(request, membership, *, form=None, created=None, status=200) -> HttpResponse:
    organisation = membership.organisation
    return render(
        request,
        "registry/orgs/keys.html",
        {
            "organisation": organisation,
            "form": form or OrganisationKeyForm(kind=organisation.kind),
            "created": created,
            "keys": selectors.organisation_keys(organisation=organisation),
            "now": timezone.now(),
        },
        status=status,
    )


def _key_of(membership: Membership, key_id: int):
    key = membership.organisation.api_keys.filter(pk=key_id).first()
    if key is None:
        raise Http404("No such key.")
    return key


@never_cache
@organisation_page(owner=True)
@require_http_methods(["GET", "POST"])
def keys(request: HttpRequest, membership: Membership) -> HttpResponse:
    if request.method == "GET":
        return _render_keys(request, membership)
    form = OrganisationKeyForm(request.POST, kind=membership.organisation.kind)
    if form.is_valid():
        try:
            key, plaintext = services.api_key_create(
                organisation=membership.organisation, created_by=request.user, **form.cleaned_data
            )
        except RegistryError as error:
            form.add_error(None, error.message)
        else:
            return _render_keys(request, membership, created={"key": key, "secret": plaintext})
    return _render_keys(request, membership, form=form, status=400)


@never_cache
@organisation_page(owner=True)
@require_POST
def key_rotate(request: HttpRequest, membership: Membership, key_id: int) -> HttpResponse:
    try:
        key, plaintext = services.api_key_rotate(
            key=_key_of(membership, key_id), actor=request.user
        )
    except RegistryError as error:
        messages.error(request, error.message)
        return redirect("org-keys", slug=membership.organisation.slug)
    created = {"key": key, "secret": plaintext, "rotated": True}
    return _render_keys(request, membership, created=created)


@organisation_page(owner=True)
@require_http_methods(["GET", "POST"])
def key_revoke(request: HttpRequest, membership: Membership, key_id: int) -> HttpResponse:
    key = _key_of(membership, key_id)
    back = reverse("org-keys", args=[membership.organisation.slug])
    if request.method == "GET":
        return render(
            request,
            "registry/orgs/confirm.html",
            {
                "organisation": membership.organisation,
                "title": "Revoke an API key",
                "question": f"Revoke the key “{key.name}” ({key.prefix}…)? Programs using it "
                "are refused from now on. This cannot be undone.",
                "button": "Revoke key",
                "back": back,
            },
        )
    services.api_key_revoke(key=key, actor=request.user)
    messages.success(request, f"The key “{key.name}” is revoked.")
    return redirect(back)
