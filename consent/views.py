"""Server-rendered consent pages: a person's dashboard and a studio's consent desk.

Thin, like the API: read through selectors, write through services, and show a service's
error message (a ``RegistryError``) to the person instead of a traceback.
"""

from __future__ import annotations

import json

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from consent import selectors, services
from consent.lib.uses import MEDIA_TYPES, USE_CATEGORIES
from consent.models import ConsentRequest, Record, RecordKind
from registry.lib.errors import RegistryError
from registry.models import Membership, Person
from registry.pages import organisation_page, person_required
from registry.site import site_url

_CATEGORY_CHOICES = [(value, value.replace("_", " / ")) for value in USE_CATEGORIES]
_MEDIA_CHOICES = [(value, value) for value in MEDIA_TYPES]


def _own_record(person: Person, record_id: str) -> Record:
    try:
        record = selectors.record_get(record_id=record_id)
    except RegistryError:
        raise Http404("No such record.") from None
    if record.person_id != person.pk:
        raise Http404("No such record.")
    return record


def home(request: HttpRequest) -> HttpResponse:
    """The front page, with the public log's latest tree head in words (on a fresh install
    there is none yet, which the page says rather than linking to the API's 404)."""
    head = selectors.latest_tree_head()
    return render(request, "home.html", {"tree_head": head})


# --- a person's dashboard -----------------------------------------------------------------------


class OptOutForm(forms.Form):
    scope = forms.ChoiceField(
        choices=[("all", "All uses of my likeness"), ("some", "Only these uses:")],
        widget=forms.RadioSelect,
        initial="all",
    )
    categories = forms.MultipleChoiceField(
        choices=_CATEGORY_CHOICES, widget=forms.CheckboxSelectMultiple, required=False
    )

    def clean(self):
        data = super().clean()
        if data.get("scope") == "some" and not data.get("categories"):
            raise forms.ValidationError("Choose at least one use, or opt out of all uses.")
        return data


@person_required
def dashboard(request: HttpRequest, person: Person) -> HttpResponse:
    records = selectors.person_records(person=person)
    context = {
        "person": person,
        "optouts": [r for r in records if r.kind == RecordKind.OPTOUT and r.revoked_at is None],
        "grants": [r for r in records if r.kind == RecordKind.GRANT],
        "waiting": list(selectors.requests_waiting(person=person)),
        "optout_form": OptOutForm(),
        "keys": person.signing_keys.order_by("created_at"),
        "has_templates": person.templates.exists(),
    }
    return render(request, "consent/dashboard.html", context)


@person_required
@require_POST
def optout_create(request: HttpRequest, person: Person) -> HttpResponse:
    form = OptOutForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(form.errors.get("__all__", ["Check the form."])))
        return redirect("consent-dashboard")
    categories = None if form.cleaned_data["scope"] == "all" else form.cleaned_data["categories"]
    try:
        record = services.optout_record(person=person, categories=categories, actor=request.user)
    except RegistryError as error:
        messages.error(request, error.message)
        return redirect("consent-dashboard")
    messages.success(request, f"Your opt-out is recorded and signed ({record.record_id}).")
    if not person.templates.exists():
        messages.warning(
            request,
            "You have no face photos registered: this opt-out cannot match anything until you "
            "add photos of your face.",
        )
    return redirect("consent-dashboard")


@person_required
@require_POST
def key_revoke(request: HttpRequest, person: Person, kid: str) -> HttpResponse:
    """Revoke one of the person's own co-signing keys (a lost or replaced device)."""
    key = person.signing_keys.filter(kid=kid).first()
    if key is None:
        raise Http404("No such key.")
    try:
        services.person_key_revoke(key=key, actor=request.user)
    except RegistryError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request,
            f"Key {key.kid[:16]}… is revoked: signatures made with it are refused from now on.",
        )
    return redirect("consent-dashboard")


@person_required
def requests_waiting(request: HttpRequest, person: Person) -> HttpResponse:
    return render(
        request,
        "consent/requests.html",
        {"waiting": selectors.requests_waiting(person=person)},
    )


def _own_request(person: Person, request_id: str) -> ConsentRequest:
    try:
        return selectors.request_for_person(person=person, request_id=request_id)
    except RegistryError:
        raise Http404("No such request.") from None


@person_required
def request_detail(request: HttpRequest, person: Person, request_id: str) -> HttpResponse:
    return render(
        request, "consent/request_detail.html", {"item": _own_request(person, request_id)}
    )


@person_required
@require_POST
def request_answer(
    request: HttpRequest, person: Person, request_id: str, answer: str
) -> HttpResponse:
    item = _own_request(person, request_id)
    try:
        if answer == "approve":
            grant = services.consent_request_approve(
                request=item, person=person, actor=request.user
            )
            messages.success(
                request, f"You gave consent to {item.organisation.name} ({grant.record_id})."
            )
            return redirect("consent-record", record_id=grant.record_id)
        services.consent_request_decline(request=item, person=person, actor=request.user)
        messages.success(request, f"You declined the request from {item.organisation.name}.")
    except RegistryError as error:
        messages.error(request, error.message)
    return redirect("consent-requests")


@person_required
def record_detail(request: HttpRequest, person: Person, record_id: str) -> HttpResponse:
    record = _own_record(person, record_id)
    proof = selectors.record_with_proof(record=record)
    context = {
        "record": record,
        "proof": proof,
        "proof_json": json.dumps(proof, indent=2, sort_keys=True),
        "revocation": getattr(record, "revocation", None),
    }
    return render(request, "consent/record_detail.html", context)


@person_required
def record_proof_download(request: HttpRequest, person: Person, record_id: str) -> HttpResponse:
    """The record's proof as a file the person can keep and give to anyone who asks."""
    record = _own_record(person, record_id)
    proof = selectors.record_with_proof(record=record)
    response = HttpResponse(
        json.dumps(proof, indent=2, sort_keys=True), content_type="application/json"
    )
    response["Content-Disposition"] = f'attachment; filename="{record.record_id}-proof.json"'
    return response


@person_required
@require_http_methods(["GET", "POST"])
def record_revoke(request: HttpRequest, person: Person, record_id: str) -> HttpResponse:
    """One click leads here; the confirmation button (POST) revokes."""
    record = _own_record(person, record_id)
    if request.method == "POST":
        try:
            revocation = services.record_revoke(record=record, actor=request.user)
        except RegistryError as error:
            messages.error(request, error.message)
            return redirect("consent-record", record_id=record.record_id)
        messages.success(request, f"Revoked. It took effect immediately ({revocation.record_id}).")
        return redirect("consent-record", record_id=record.record_id)
    return render(request, "consent/revoke_confirm.html", {"record": record})


@person_required
def history(request: HttpRequest, person: Person) -> HttpResponse:
    context = {
        "records": selectors.person_records(person=person),
        "checks": selectors.person_checks(person=person)[:200],
    }
    return render(request, "consent/history.html", context)


# --- a studio's consent desk --------------------------------------------------------------------


# Browsers show a calendar for these; the hint is for those that fall back to a text box.
_DATE_PICKER = forms.DateInput(attrs={"type": "date", "placeholder": "YYYY-MM-DD"})
_DATE_HINT = "A date (UTC); where there is no calendar, type YYYY-MM-DD."


class ConsentRequestForm(forms.Form):
    person = forms.CharField(required=False, label="Person's handle or subject id", max_length=60)
    email = forms.EmailField(required=False, label="or invite by email")
    purpose = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=2000)
    categories = forms.MultipleChoiceField(
        choices=_CATEGORY_CHOICES, widget=forms.CheckboxSelectMultiple
    )
    media_types = forms.MultipleChoiceField(
        choices=_MEDIA_CHOICES, widget=forms.CheckboxSelectMultiple
    )
    territory = forms.CharField(initial="worldwide", max_length=16)
    valid_from = forms.DateTimeField(
        required=False, widget=_DATE_PICKER, help_text=_DATE_HINT + " Empty: from the answer."
    )
    valid_until = forms.DateTimeField(
        required=False, widget=_DATE_PICKER, help_text=_DATE_HINT + " Empty: no end."
    )
    project_ref = forms.CharField(required=False, max_length=200, label="Project reference")

    def clean(self):
        data = super().clean()
        if bool(data.get("person")) == bool(data.get("email")):
            raise forms.ValidationError("Give the person's handle or an email address (one).")
        return data


class ConsentCheckForm(forms.Form):
    person = forms.CharField(label="Person's handle or subject id", max_length=60)
    category = forms.ChoiceField(choices=_CATEGORY_CHOICES)
    media_type = forms.ChoiceField(choices=_MEDIA_CHOICES)
    territory = forms.CharField(initial="worldwide", max_length=16)
    date = forms.DateTimeField(
        required=False,
        label="Date of use",
        widget=_DATE_PICKER,
        help_text=_DATE_HINT + " Empty: now.",
    )


@organisation_page
@require_http_methods(["GET", "POST"])
def studio_desk(request: HttpRequest, membership: Membership) -> HttpResponse:
    organisation = membership.organisation
    slug = organisation.slug
    request_form = ConsentRequestForm(prefix="ask")
    check_form = ConsentCheckForm(prefix="check")
    check_result = None
    if request.method == "POST" and request.POST.get("action") == "ask":
        request_form = ConsentRequestForm(request.POST, prefix="ask")
        if request_form.is_valid():
            data = dict(request_form.cleaned_data)
            handle = data.pop("person")
            try:
                person = selectors.person_find(person=handle) if handle else None
                services.consent_request_create(
                    organisation=organisation,
                    requested_by=request.user,
                    person=person,
                    email=data.pop("email") or None,
                    site_url=site_url(request),
                    **data,
                )
            except RegistryError as error:
                messages.error(request, error.message)
            else:
                messages.success(request, "Request sent.")
                return redirect("studio-desk", slug=slug)
    elif request.method == "POST" and request.POST.get("action") == "withdraw":
        try:
            consent_request = selectors.organisation_request(
                organisation=organisation, request_id=request.POST.get("request_id", "")
            )
            services.consent_request_withdraw(request=consent_request, organisation=organisation)
        except RegistryError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, "Request withdrawn: the person no longer sees it.")
        return redirect("studio-desk", slug=slug)
    elif request.method == "POST" and request.POST.get("action") == "check":
        check_form = ConsentCheckForm(request.POST, prefix="check")
        if check_form.is_valid():
            data = check_form.cleaned_data
            try:
                person = selectors.person_find(person=data["person"])
                check, receipt = services.consent_check(
                    organisation=organisation,
                    person=person,
                    category=data["category"],
                    media_type=data["media_type"],
                    territory=data["territory"] or None,
                    at=data["date"],
                )
            except RegistryError as error:
                messages.error(request, error.message)
            else:
                check_result = {
                    "check": check,
                    "receipt_json": json.dumps(receipt, indent=2, sort_keys=True),
                }
    context = {
        "organisation": organisation,
        "request_form": request_form,
        "check_form": check_form,
        "check_result": check_result,
        "requests": selectors.organisation_requests(organisation=organisation)[:100],
        "grants": selectors.organisation_grants(organisation=organisation)[:100],
        "checks": selectors.organisation_consent_checks(organisation=organisation)[:50],
        "now": timezone.now(),
    }
    return render(request, "consent/studio_desk.html", context)


@organisation_page
def studio_receipt_download(
    request: HttpRequest, membership: Membership, check_id: str
) -> HttpResponse:
    """A consent check's logged receipt as a file (``manage.py verify_receipt`` checks it)."""
    organisation = membership.organisation
    try:
        receipt = selectors.consent_check_receipt(organisation=organisation, check_id=check_id)
    except RegistryError:
        raise Http404("No such check.") from None
    response = HttpResponse(
        json.dumps(receipt, indent=2, sort_keys=True), content_type="application/json"
    )
    response["Content-Disposition"] = f'attachment; filename="{check_id}-receipt.json"'
    return response
