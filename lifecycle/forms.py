"""Forms of the person-wide workflows' pages (validation only; ``lifecycle.services`` writes)."""

from __future__ import annotations

from django import forms


class DeleteAccountForm(forms.Form):
    confirm = forms.CharField(
        label='Type "delete my account" to confirm', max_length=40, strip=True
    )
    password = forms.CharField(
        label="Your password",
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        required=False,
    )

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        if user is not None and not user.has_usable_password():
            del self.fields["password"]

    def clean_confirm(self):
        value = self.cleaned_data["confirm"].lower()
        if value != "delete my account":
            raise forms.ValidationError('Type exactly "delete my account".')
        return value

    def clean_password(self):
        password = self.cleaned_data.get("password") or ""
        if self.user is not None and not self.user.check_password(password):
            raise forms.ValidationError("The password is not correct.")
        return password


class FaceReportForm(forms.Form):
    confirm = forms.BooleanField(
        label="The photos in my registry show my own face, and I believe someone else "
        "registered it too."
    )
