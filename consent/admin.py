"""Operator screens for the transparency log: read-only, and never showing private key material.

The log is append-only and changed only through ``consent.services``; an admin form that could
edit a record would be a way to break it, so every screen here refuses add, change and delete.
"""

from __future__ import annotations

import json

from django.contrib import admin
from django.utils.html import format_html

from consent import services as consent_services
from consent.lib.signing import b64encode
from consent.models import (
    ConsentCheck,
    ConsentRequest,
    LogEntry,
    Record,
    SignedTreeHead,
    SigningKey,
    WebhookDelivery,
    WebhookEndpoint,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(SigningKey)
class SigningKeyAdmin(ReadOnlyAdmin):
    list_display = ["kid", "status", "created_at", "retired_at"]
    list_filter = ["status"]
    # private_key_sealed is deliberately absent: not even its ciphertext is shown.
    fields = ["kid", "public_key_base64", "status", "created_at", "retired_at"]
    readonly_fields = fields

    @admin.display(description="public key (base64)")
    def public_key_base64(self, key: SigningKey) -> str:
        return b64encode(bytes(key.public_key))

    def get_queryset(self, request):
        return super().get_queryset(request).defer("private_key_sealed")


@admin.register(LogEntry)
class LogEntryAdmin(ReadOnlyAdmin):
    list_display = ["index", "leaf_hash_base64", "created_at"]
    fields = ["index", "leaf_hash_base64", "created_at", "record_json"]
    readonly_fields = fields
    search_fields = ["=index"]
    show_full_result_count = False  # COUNT(*) over millions of rows on every page is wasted

    @admin.display(description="leaf hash (base64)")
    def leaf_hash_base64(self, entry: LogEntry) -> str:
        return b64encode(bytes(entry.leaf_hash))

    @admin.display(description="signed record")
    def record_json(self, entry: LogEntry) -> str:
        text = json.dumps(json.loads(bytes(entry.record)), indent=2, ensure_ascii=False)
        return format_html("<pre>{}</pre>", text)

    def get_search_results(self, request, queryset, search_term):
        # Only exact index lookups; a non-numeric term would otherwise make the query fail.
        if search_term and not search_term.strip().isdigit():
            return queryset.none(), False
        return super().get_search_results(request, queryset, search_term)


@admin.register(SignedTreeHead)
class SignedTreeHeadAdmin(ReadOnlyAdmin):
    list_display = ["tree_size", "root_hash_base64", "timestamp", "kid"]
    fields = ["tree_size", "root_hash_base64", "timestamp", "kid", "signature_base64"]
    readonly_fields = fields
    show_full_result_count = False

    @admin.display(description="root hash (base64)")
    def root_hash_base64(self, head: SignedTreeHead) -> str:
        return b64encode(bytes(head.root_hash))

    @admin.display(description="signature (base64)")
    def signature_base64(self, head: SignedTreeHead) -> str:
        return b64encode(bytes(head.signature))


# =================================================================================================
# Records, requests, checks and webhooks (records engineer)
#
# Decisions are changed only through consent.services (a revocation is itself a signed record),
# so these screens are read-only too; the only actions are the operational ones: disabling a
# webhook endpoint and sending a delivery again.
# =================================================================================================


@admin.register(Record)
class RecordAdmin(ReadOnlyAdmin):
    list_display = ["record_id", "kind", "organisation", "created_at", "revoked_at"]
    list_filter = ["kind", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["=record_id", "=subject"]
    show_full_result_count = False
    list_select_related = ["organisation"]
    # No person, purpose or project reference: operators find records by id, not by name.
    fields = [
        "record_id",
        "kind",
        "subject",
        "organisation",
        "categories",
        "media_types",
        "territory",
        "valid_from",
        "valid_until",
        "revokes",
        "revoked_at",
        "log_index",
        "created_at",
    ]
    readonly_fields = fields

    @admin.display(description="log entry")
    def log_index(self, record: Record) -> int:
        return record.log_entry.index


@admin.register(ConsentRequest)
class ConsentRequestAdmin(ReadOnlyAdmin):
    list_display = ["request_id", "organisation", "status", "created_at", "answered_at"]
    list_filter = ["status"]
    search_fields = ["=request_id"]
    fields = ["request_id", "organisation", "status", "grant", "created_at", "answered_at"]
    readonly_fields = fields


@admin.register(ConsentCheck)
class ConsentCheckAdmin(ReadOnlyAdmin):
    list_display = ["check_id", "organisation", "category", "result", "created_at"]
    list_filter = ["result"]
    search_fields = ["=check_id"]
    show_full_result_count = False
    fields = ["check_id", "organisation", "category", "media_type", "territory", "use_at"]
    fields += ["result", "decided_by", "created_at"]
    readonly_fields = fields


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ReadOnlyAdmin):
    list_display = ["endpoint_id", "organisation", "url", "created_at", "disabled_at"]
    list_filter = [("disabled_at", admin.EmptyFieldListFilter)]
    search_fields = ["=endpoint_id", "url"]
    # The sealed secret is never shown.
    fields = ["endpoint_id", "organisation", "url", "description", "created_at", "disabled_at"]
    readonly_fields = fields
    actions = ["disable"]

    @admin.action(description="Disable the selected endpoints")
    def disable(self, request, queryset) -> None:
        for endpoint in queryset:
            consent_services.webhook_endpoint_disable(endpoint=endpoint)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ["delivery_id", "event_type", "status", "attempts", "last_status_code"]
    list_display += ["next_attempt_at", "created_at"]
    list_filter = ["status", "event_type"]
    search_fields = ["=delivery_id", "=event_id"]
    show_full_result_count = False
    fields = ["delivery_id", "endpoint", "event_id", "event_type", "status", "attempts"]
    fields += ["last_status_code", "last_error", "next_attempt_at"]
    fields += ["last_attempt_at", "delivered_at", "created_at", "payload"]
    readonly_fields = fields
    actions = ["redeliver"]

    @admin.action(description="Send the selected deliveries again")
    def redeliver(self, request, queryset) -> None:
        for delivery in queryset:
            consent_services.webhook_redeliver(delivery=delivery)
