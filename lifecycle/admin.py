"""Operator screens of the workflows that span apps: attestations, organisation verification
and face disputes go through their services."""

from django import forms
from django.contrib import admin, messages

from lifecycle import services
from lifecycle.models import LivenessAttempt
from registry.admin import OrganisationAdmin as RegistryOrganisationAdmin
from registry.lib.errors import RegistryError
from registry.models import (
    Attestation,
    Dispute,
    DisputeResolution,
    DisputeStatus,
    Organisation,
)

# Verifying an organisation logs a signed record through consent, which registry's admin cannot
# import; the registry's screen is extended here, above both, instead of duplicated.
admin.site.unregister(Organisation)


@admin.register(Organisation)
class OrganisationAdmin(RegistryOrganisationAdmin):
    actions = [*RegistryOrganisationAdmin.actions, "verify"]

    @admin.action(description="Verify the selected organisations (a signed record in the log)")
    def verify(self, request, queryset) -> None:
        verified = 0
        for organisation in queryset:
            try:
                services.organisation_verify(organisation=organisation, actor=request.user)
            except RegistryError as error:
                messages.error(request, f"{organisation.slug}: {error}")
            else:
                verified += 1
        if verified:
            messages.success(request, f"{verified} verified.")


@admin.register(Attestation)
class AttestationAdmin(admin.ModelAdmin):
    list_display = ["person", "verifier", "method", "attested_at", "revoked_at"]
    raw_id_fields = ["person"]
    fields = ["person", "verifier", "method", "attested_by", "attested_at", "revoked_at"]
    readonly_fields = ["attested_by", "attested_at", "revoked_at"]
    actions = ["revoke"]

    def has_change_permission(self, request, obj=None) -> bool:
        return obj is None and super().has_change_permission(request, obj)

    def save_model(self, request, obj, form, change) -> None:
        if change:
            return
        # Recorded through the service: assurance level updated and the verification audited.
        attestation = services.attestation_create(
            person=obj.person, verifier=obj.verifier, method=obj.method, attested_by=request.user
        )
        obj.pk = attestation.pk

    @admin.action(description="Revoke the selected attestations")
    def revoke(self, request, queryset) -> None:
        for attestation in queryset:
            services.attestation_revoke(attestation=attestation, actor=request.user)
        messages.success(request, f"{queryset.count()} revoked.")


class DisputeResolveForm(forms.ModelForm):
    resolution = forms.ChoiceField(
        choices=[("", "— choose —"), *DisputeResolution.choices],
        help_text=(
            "The losing registration loses its face templates and is suspended; "
            "'different people' keeps both. A higher assurance level wins nothing by itself."
        ),
    )
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Why (kept in the registry, never in the public log).",
    )

    class Meta:
        model = Dispute
        fields = ["resolution", "note"]


@admin.register(Dispute)
class DisputeAdmin(admin.ModelAdmin):
    """Two registrations holding one face. Resolving one writes a signed record in the log and
    an audit entry through ``lifecycle.services.dispute_resolve``; it cannot be undone here."""

    list_display = ["public_id", "origin", "status", "newcomer", "existing", "created_at"]
    list_filter = ["status", "origin", "resolution"]
    search_fields = ["public_id", "newcomer__public_id", "existing__public_id"]
    readonly_fields = [
        "public_id",
        "origin",
        "status",
        "newcomer",
        "existing",
        "newcomer_template_ids",
        "existing_template_ids",
        "resolved_by",
        "resolved_at",
        "record",
        "created_at",
    ]

    def has_add_permission(self, request) -> bool:
        return False  # disputes open at enrollment or from a person's report

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is not None and obj.status == DisputeStatus.OPEN:
            kwargs["form"] = DisputeResolveForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.status == DisputeStatus.OPEN:
            return self.readonly_fields
        return [*self.readonly_fields, "resolution", "note"]

    def get_fields(self, request, obj=None):
        return [*self.readonly_fields[:5], "resolution", "note", *self.readonly_fields[5:]]

    def save_model(self, request, obj, form, change) -> None:
        if not change or "resolution" not in form.cleaned_data:
            return
        try:
            services.dispute_resolve(
                dispute=obj,
                resolution=form.cleaned_data["resolution"],
                note=form.cleaned_data.get("note", ""),
                actor=request.user,
            )
        except RegistryError as error:
            messages.error(request, str(error))
        else:
            messages.success(request, "Resolved: a signed record is in the log.")


@admin.register(LivenessAttempt)
class LivenessAttemptAdmin(admin.ModelAdmin):
    """Read-only: attempts are made by people through the capture page, never by an operator."""

    list_display = ("pk", "person", "created_at", "outcome", "reason")
    list_filter = ("outcome",)
    readonly_fields = [f.name for f in LivenessAttempt._meta.fields if f.name != "nonce"]
    exclude = ("nonce",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
