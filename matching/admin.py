"""Operator screens for checks: read-only, and without biometrics or platform media."""

from __future__ import annotations

from django.contrib import admin, messages

from matching.health import registry_capacity_status
from matching.models import Check, CheckMatch, ReviewDecision


class NoAddOrChangeAdmin(admin.ModelAdmin):
    """Checks are made only through the API; an operator may read them and delete one (say, on a
    platform's request), never write one."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class CheckMatchInline(admin.TabularInline):
    model = CheckMatch
    fields = ("person", "match", "verdict", "distance", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class ReviewDecisionInline(admin.TabularInline):
    model = ReviewDecision
    fields = ("face", "decision", "decided_by", "decided_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Check)
class CheckAdmin(NoAddOrChangeAdmin):
    def changelist_view(self, request, extra_context=None):
        # Operators reading checks are the ones who must hear that verdicts are degrading.
        capacity = registry_capacity_status()
        if capacity.get("warning"):
            messages.warning(request, capacity["warning"])
        elif capacity.get("capacity"):
            messages.info(
                request,
                f"Registry size: {capacity['opted_out_people']} opted-out people of the "
                f"{capacity['capacity']} the face engine serves within its false-block target.",
            )
        return super().changelist_view(request, extra_context)

    list_display = ("id", "organisation", "kind", "status", "progress", "verdict", "created_at")
    list_filter = ("kind", "status", "verdict", "category", "source")
    search_fields = ("id", "media_sha256", "organisation__name")
    date_hierarchy = "created_at"
    list_select_related = ("organisation",)
    readonly_fields = (
        "id",
        "organisation",
        "api_key",
        "source",
        "submitted_by",
        "kind",
        "status",
        "progress",
        "category",
        "media_sha256",
        "media_type",
        "verdict",
        "faces",
        "result",
        "error",
        "attempts",
        "callback_url",
        "callback_delivered_at",
        "callback_attempts",
        "created_at",
        "started_at",
        "finished_at",
        "detail_dropped_at",
    )
    fields = readonly_fields
    inlines = [CheckMatchInline, ReviewDecisionInline]


@admin.register(CheckMatch)
class CheckMatchAdmin(NoAddOrChangeAdmin):
    list_display = ("media_check", "person", "organisation", "match", "verdict", "created_at")
    list_filter = ("match", "verdict")
    list_select_related = ("organisation", "person")
    raw_id_fields = ("media_check", "person", "organisation")
