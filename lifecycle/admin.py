"""Operator screens of the person-wide workflows: attestations go through their service."""

from django.contrib import admin, messages

from lifecycle import services
from registry.models import Attestation


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
