"""Forms of the registry's server-rendered pages (validation only; services do the writing)."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import PasswordResetForm

from registry.scopes import ATTEST_WRITE, ORGANISATION_SCOPES, PERSONAL_SCOPES


class SignupForm(forms.Form):
    display_name = forms.CharField(label="Your name", max_length=200)
    email = forms.EmailField(label="Email address")
    password = forms.CharField(
        label="Password", widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )
    password_again = forms.CharField(
        label="Password again", widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )

    def clean(self):
        data = super().clean()
        if data.get("password") and data.get("password") != data.get("password_again"):
            self.add_error("password_again", "The two passwords differ.")
        return data


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class PhotoUploadForm(forms.Form):
    photos = forms.FileField(
        label=f"Reference photos (1 to {settings.ENROLLMENT_MAX_PHOTOS}; JPEG, PNG or WebP)",
        widget=MultipleFileInput(
            attrs={"multiple": True, "accept": "image/jpeg,image/png,image/webp"}
        ),
        required=False,
    )


class SettingsForm(forms.Form):
    display_name = forms.CharField(label="Your name", max_length=200)
    keep_photos = forms.BooleanField(
        label="Keep my reference photos (stored encrypted); otherwise each photo is deleted as "
        "soon as its template exists",
        required=False,
    )


class TokenForm(forms.Form):
    name = forms.CharField(label="Token name", max_length=100)
    scopes = forms.MultipleChoiceField(
        label="Scopes", widget=forms.CheckboxSelectMultiple, choices=()
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["scopes"].choices = [
            (name, f"{name}: {text}") for name, text in PERSONAL_SCOPES.items()
        ]


class PasswordResetRequestForm(PasswordResetForm):
    """Django's reset form, for every active account with the address in any case.

    Django skips accounts with no usable password; here those are the organisation owners an
    operator created (``manage.py organisation_create``), and a reset link is how they choose
    their first password. Receiving the email proves the address either way.
    """

    email = forms.EmailField(label="Email address", max_length=254)

    def get_users(self, email: str):
        return get_user_model().objects.filter(email__iexact=email.strip(), is_active=True)


class OrganisationForm(forms.Form):
    name = forms.CharField(label="Organisation name", max_length=200)
    kind = forms.ChoiceField(
        label="Kind",
        choices=[
            ("studio", "Studio: asks people for consent and checks it before production"),
            ("platform", "Platform: checks images and video before publishing them"),
        ],
        widget=forms.RadioSelect,
        initial="platform",
    )


class InvitationForm(forms.Form):
    email = forms.EmailField(label="Email address")
    role = forms.ChoiceField(
        label="Role",
        choices=[
            ("member", "Member: uses the organisation's pages"),
            ("owner", "Owner: also manages members, API keys and webhooks"),
        ],
        initial="member",
    )


class OrganisationKeyForm(forms.Form):
    name = forms.CharField(label="Key name", max_length=100, help_text="e.g. production upload")
    scopes = forms.MultipleChoiceField(
        label="What the key may do", widget=forms.CheckboxSelectMultiple, choices=()
    )

    def __init__(self, *args, kind: str, **kwargs):
        super().__init__(*args, **kwargs)
        # Attestations are recorded only by verifier organisations; other kinds never need it.
        self.fields["scopes"].choices = [
            (name, text)
            for name, text in ORGANISATION_SCOPES.items()
            if name != ATTEST_WRITE or kind == "verifier"
        ]
