"""Operator screens of the workflows that span apps: attestations and organisation
verification go through their services."""

from django.contrib import admin, messages

from lifecycle import services
from lifecycle.models import LivenessAttempt
from registry.admin import OrganisationAdmin as RegistryOrganisationAdmin
from registry.lib.errors import RegistryError
from registry.models import Attestation, Organisation

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
