"""Operator screens. No raw template, embedding, secret hash or salt is ever shown; actions that
matter (verification, suspension, key revocation) go through services, which audit them."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from registry import services
from registry.models import (
    ApiKey,
    AuditEvent,
    Membership,
    Organisation,
    Person,
    User,
)


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ["email"]
    list_display = ["email", "is_active", "is_staff", "email_verified_at", "date_joined"]
    search_fields = ["email"]
    readonly_fields = ["last_login", "date_joined", "email_verified_at"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Status", {"fields": ("is_active", "is_staff", "is_superuser", "email_verified_at")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)
    filter_horizontal: tuple = ()
    list_filter = ["is_staff", "is_active"]


@admin.register(Person)
class PersonAdmin(admin.ModelAdmin):
    list_display = [
        "public_id",
        "display_name",
        "assurance",
        "registration_status",
        "template_count",
        "suspended_at",
    ]
    search_fields = ["public_id", "display_name", "user__email"]
    list_filter = ["assurance", "registration_status"]
    # Everything that is not a plain personal field is read-only; salts and templates are absent.
    fields = [
        "public_id",
        "display_name",
        "handle",
        "user",
        "assurance",
        "registration_status",
        "keep_photos",
        "templates_confirmed_at",
        "retention_reminded_at",
        "suspended_at",
        "created_at",
        "template_count",
    ]
    readonly_fields = [
        "public_id",
        "user",
        "assurance",
        # Kept from the person's open disputes; an operator changes it by resolving them.
        "registration_status",
        "keep_photos",
        "templates_confirmed_at",
        "retention_reminded_at",
        "suspended_at",
        "created_at",
        "template_count",
    ]
    actions = ["suspend", "unsuspend"]

    @admin.display(description="templates")
    def template_count(self, person: Person) -> int:
        return person.templates.count()

    def has_add_permission(self, request) -> bool:
        return False  # people sign up or are enrolled with manage.py enroll

    @admin.action(description="Suspend the selected people")
    def suspend(self, request, queryset) -> None:
        for person in queryset:
            services.person_suspend(person=person, actor=request.user)
        messages.success(request, f"{queryset.count()} suspended.")

    @admin.action(description="Lift the suspension of the selected people")
    def unsuspend(self, request, queryset) -> None:
        for person in queryset:
            services.person_suspend(person=person, actor=request.user, suspended=False)
        messages.success(request, f"{queryset.count()} unsuspended.")


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ["user"]


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "kind", "verification", "suspended_at", "created_at"]
    search_fields = ["name", "slug"]
    list_filter = ["kind", "verification"]
    # Verification is an action (lifecycle.admin), never a field edit: it leaves a signed record.
    readonly_fields = ["verification", "verified_at", "suspended_at", "created_at"]
    inlines = [MembershipInline]
    actions = ["suspend", "unsuspend"]

    @admin.action(description="Suspend the selected organisations (their keys stop working)")
    def suspend(self, request, queryset) -> None:
        for organisation in queryset:
            services.organisation_suspend(organisation=organisation, actor=request.user)
        messages.success(request, f"{queryset.count()} suspended.")

    @admin.action(description="Lift the suspension of the selected organisations")
    def unsuspend(self, request, queryset) -> None:
        for organisation in queryset:
            services.organisation_suspend(
                organisation=organisation, actor=request.user, suspended=False
            )
        messages.success(request, f"{queryset.count()} unsuspended.")


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "prefix", "organisation", "user", "last_used_at", "revoked_at"]
    search_fields = ["name", "prefix", "organisation__name"]
    # The hash is never shown; keys are created by their owners (shown once), not here.
    fields = [
        "name",
        "prefix",
        "organisation",
        "user",
        "scopes",
        "created_by",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
    ]
    readonly_fields = fields
    actions = ["revoke"]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request, queryset) -> None:
        for key in queryset:
            services.api_key_revoke(key=key, actor=request.user)
        messages.success(request, f"{queryset.count()} revoked.")


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "action", "target_type", "target_id", "actor"]
    list_filter = ["action"]
    search_fields = ["target_id", "action"]
    readonly_fields = ["created_at", "action", "target_type", "target_id", "actor", "metadata"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
