"""Pages of the person-wide workflows: adding photos, the live selfie capture, one's data export,
deleting one's account, reporting that someone else registered one's face.

Thin: read the form, call ``lifecycle.services``, render the registry's pages with the result.
"""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from lifecycle import services
from lifecycle.api.views import read_uploads
from lifecycle.forms import DeleteAccountForm, FaceReportForm
from lifecycle.services import liveness
from registry.forms import PhotoUploadForm
from registry.lib.errors import RegistryError, ValidationFailed
from registry.models import Person
from registry.pages import person_of, person_required
from registry.views import render_me


@person_required
@require_POST
def photos_upload(request: HttpRequest, person: Person) -> HttpResponse:
    form = PhotoUploadForm(request.POST, request.FILES)
    try:
        images = read_uploads(request.FILES.getlist("photos"))
    except RegistryError as error:
        form.add_error("photos", error.message)
        return render_me(request, person, upload_form=form, status=400)
    try:
        result = services.person_enroll(person=person, images=images)
    except RegistryError as error:  # e.g. the face models are unavailable (503)
        form.add_error("photos", error.message)
        return render_me(request, person, upload_form=form, status=error.status_code)
    if result.accepted:
        count = len(result.accepted)
        messages.success(request, f"{count} photo{'' if count == 1 else 's'} accepted.")
    if result.status == "disputed":
        messages.warning(
            request, "Your photos match a face registered by someone else: see the notice below."
        )
    return render_me(request, person, results=result, status=200 if result.accepted else 400)


@never_cache
@person_required
@require_GET
def export(request: HttpRequest, person: Person) -> HttpResponse:
    data = services.person_export(person=person)
    response = HttpResponse(
        json.dumps(data, indent=2, ensure_ascii=False), content_type="application/json"
    )
    response["Content-Disposition"] = (
        f'attachment; filename="likeness-registry-{person.public_id}.json"'
    )
    return response


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def delete_account(request: HttpRequest) -> HttpResponse:
    form = DeleteAccountForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        person = person_of(request)
        if person is not None:
            services.person_erase(person=person)
        else:
            request.user.delete()
        logout(request)
        return render(request, "registry/deleted.html")
    return render(request, "registry/delete_account.html", {"form": form})


@person_required
@require_POST
def face_report(request: HttpRequest, person: Person) -> HttpResponse:
    form = FaceReportForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Tick the box to confirm the report.")
        return render_me(request, person, status=400)
    try:
        outcome = services.face_report(person=person)
    except RegistryError as error:  # no photos yet, the daily limit, the face models (503)
        messages.error(request, error.message)
        return render_me(request, person, status=error.status_code)
    if outcome.opened:
        messages.success(request, outcome.message)
    else:
        messages.info(request, outcome.message)
    return redirect("me")


# --- live selfie capture --------------------------------------------------------------------------


def _json_error(error: RegistryError) -> JsonResponse:
    return JsonResponse({"error": error.as_dict()}, status=error.status_code)


def _challenge_json(attempt) -> dict:
    return {
        "nonce": attempt.nonce,
        "challenge": attempt.challenge,
        "lead_in_s": liveness.LEAD_IN_SECONDS,
        "step_s": liveness.STEP_SECONDS,
        "seconds": liveness.challenge_seconds(attempt.challenge),
        "expires_at": attempt.expires_at.isoformat(),
    }


@never_cache
@person_required
@require_GET
def liveness_page(request: HttpRequest, person: Person) -> HttpResponse:
    return render(
        request,
        "lifecycle/liveness.html",
        {"person": person, "has_photos": person.templates.exists()},
    )


@never_cache
@person_required
@require_POST
def liveness_challenge(request: HttpRequest, person: Person) -> JsonResponse:
    """The person's pending challenge, or a new one (a reload does not spend an attempt)."""
    try:
        attempt = liveness.liveness_challenge_current(
            person=person
        ) or liveness.liveness_challenge_create(person=person)
    except RegistryError as error:
        return _json_error(error)
    return JsonResponse(_challenge_json(attempt), status=201)


@never_cache
@person_required
@require_POST
def liveness_verify(request: HttpRequest, person: Person) -> JsonResponse:
    upload = request.FILES.get("clip")
    try:
        if upload is None:
            raise ValidationFailed("No clip was sent: record one first.", code="clip_required")
        attempt = liveness.liveness_attempt_for_nonce(
            person=person, nonce=request.POST.get("nonce", "")
        )
        # One byte past the limit is enough for the service to say "too large".
        clip = upload.read(liveness.MAX_CLIP_BYTES + 1)
        result = liveness.liveness_clip_verify(attempt=attempt, clip=clip)
    except RegistryError as error:
        return _json_error(error)
    person.refresh_from_db(fields=["assurance"])
    return JsonResponse(
        {
            "passed": result.passed,
            "reason": result.attempt.reason,
            "level": person.assurance,
            "level_display": person.get_assurance_display(),
            "templates_added": result.templates_stored,
        }
    )
