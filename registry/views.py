"""Server-rendered pages of the registry app and the site-wide error pages."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LogoutView
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.urls import reverse_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from registry import selectors, services
from registry.api import exceptions
from registry.forms import (
    PasswordResetRequestForm,
    PhotoUploadForm,
    SettingsForm,
    SignupForm,
    TokenForm,
)
from registry.lib.errors import RegistryError
from registry.models import Person
from registry.pages import person_required, safe_next
from registry.site import site_url


@require_GET
def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for ``/favicon.ico`` whatever the page links to; send them to the static
    icon (its URL carries a content hash in production, so the redirect itself is temporary)."""
    response = redirect(static("registry/favicon.svg"))
    response["Cache-Control"] = "public, max-age=86400"
    return response


class SignOut(LogoutView):
    """Signing out stays a POST (a link or an image must not sign anyone out); a GET, from a
    typed or bookmarked ``/logout/``, gets a page with the button instead of a 405."""

    http_method_names = ["get", "post", "options"]

    def get(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        return render(request, "registry/logout.html")


def _wants_json(request: HttpRequest) -> bool:
    return request.path.startswith(("/api/", "/.well-known/")) or "json" in request.headers.get(
        "Accept", ""
    )


def error_404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _wants_json(request):
        return exceptions.not_found(request)
    return render(request, "errors/404.html", status=404)


def error_400(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _wants_json(request):
        return exceptions.bad_request(request)
    return render(request, "errors/400.html", status=400)


def error_403(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _wants_json(request):
        return exceptions.permission_denied(request)
    return render(request, "errors/403.html", status=403)


def error_500(request: HttpRequest) -> HttpResponse:
    if _wants_json(request):
        return exceptions.server_error(request)
    return render(request, "errors/500.html", status=500)


# --- People's pages -------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            person = services.person_create(
                email=form.cleaned_data["email"],
                display_name=form.cleaned_data["display_name"],
                password=form.cleaned_data["password"],
            )
        except RegistryError as error:
            form.add_error(None, error.message)
        else:
            services.email_verification_send(user=person.user, site_url=site_url(request))
            login(request, person.user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(
                request, "Account created. We sent you an email with a link to confirm it."
            )
            # An invitation link sends newcomers here and expects them back.
            return redirect(safe_next(request, "/me/"))
    next_url = safe_next(request, "")
    return render(request, "registry/signup.html", {"form": form, "next": next_url})


@require_GET
def verify_email(request: HttpRequest, uid: str, token: str) -> HttpResponse:
    try:
        services.email_verify(uid=uid, token=token)
    except RegistryError as error:
        return render(
            request, "registry/verify_failed.html", {"message": error.message}, status=400
        )
    messages.success(request, "Your email address is confirmed.")
    return redirect("me" if request.user.is_authenticated else "login")


# ``person_required`` wraps the method check so an anonymous caller is sent to sign in whatever
# the method, as these pages always did.


@never_cache
@person_required
@require_GET
def me(request: HttpRequest, person: Person) -> HttpResponse:
    return render_me(request, person)


def render_me(request, person, *, upload_form=None, results=None, status=200) -> HttpResponse:
    context = {
        "person": person,
        "templates": selectors.person_templates(person=person),
        "attestations": selectors.person_attestations(person=person),
        "dispute_notices": selectors.person_dispute_notices(person=person),
        "upload_form": upload_form or PhotoUploadForm(),
        "settings_form": SettingsForm(
            initial={"display_name": person.display_name, "keep_photos": person.keep_photos}
        ),
        "results": results,
        "tokens": request.user.personal_tokens.order_by("-created_at"),
    }
    return render(request, "registry/me.html", context, status=status)


@person_required
@require_POST
def photo_delete(request: HttpRequest, person: Person, template_id: int) -> HttpResponse:
    try:
        services.template_delete(person=person, template_id=template_id)
    except RegistryError:
        messages.error(request, "There is no such photo.")
    else:
        messages.success(request, "The photo and its template were deleted.")
    return redirect("me")


@person_required
@require_POST
def settings_update(request: HttpRequest, person: Person) -> HttpResponse:
    form = SettingsForm(request.POST)
    if form.is_valid():
        services.person_update(person=person, **form.cleaned_data)
        messages.success(request, "Settings saved.")
    else:
        messages.error(request, "The settings could not be saved.")
    return redirect("me")


@login_required
@require_POST
def verification_resend(request: HttpRequest) -> HttpResponse:
    if request.user.email_verified_at is None:
        services.email_verification_send(user=request.user, site_url=site_url(request))
        messages.success(request, "We sent you a new confirmation link.")
    return redirect("me")


@person_required
@require_POST
def templates_confirm(request: HttpRequest, person: Person) -> HttpResponse:
    services.templates_confirm(person=person)
    messages.success(request, "Thank you: your face templates will be kept.")
    return redirect("me")


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def tokens(request: HttpRequest) -> HttpResponse:
    form = TokenForm(request.POST or None)
    created = None
    if request.method == "POST" and form.is_valid():
        try:
            _key, created = services.api_key_create(
                user=request.user,
                name=form.cleaned_data["name"],
                scopes=form.cleaned_data["scopes"],
                created_by=request.user,
            )
        except RegistryError as error:
            form.add_error(None, error.message)
        else:
            form = TokenForm()
    return render(
        request,
        "registry/tokens.html",
        {
            "form": form,
            "created": created,
            "tokens": request.user.personal_tokens.order_by("-created_at"),
        },
    )


@login_required
@require_POST
def token_revoke(request: HttpRequest, key_id: int) -> HttpResponse:
    try:
        services.api_key_revoke_for(key_id=key_id, actor=request.user)
    except RegistryError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, "The token was revoked.")
    return redirect("tokens")


class PasswordReset(auth_views.PasswordResetView):
    """Ask for a reset link by email. The answer is the same whether or not the address has an
    account (no way to learn who is registered), and the link is on the address the site was
    reached on, like every email link (``registry.site``)."""

    form_class = PasswordResetRequestForm
    template_name = "registry/password_reset_form.html"
    email_template_name = "registry/password_reset_email.txt"
    subject_template_name = "registry/password_reset_subject.txt"
    success_url = reverse_lazy("password-reset-done")

    def form_valid(self, form):
        self.extra_email_context = {"site_url": site_url(self.request)}
        return super().form_valid(form)


class PasswordResetConfirm(auth_views.PasswordResetConfirmView):
    template_name = "registry/password_reset_confirm.html"
    success_url = reverse_lazy("password-reset-complete")
