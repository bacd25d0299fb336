"""Operator screens for the transparency log: read-only, and never showing private key material.

The log is append-only and changed only through ``consent.services``; an admin form that could
edit a record would be a way to break it, so every screen here refuses add, change and delete.
"""

from __future__ import annotations

import json

from django.contrib import admin
from django.utils.html import format_html

from consent.lib.signing import b64encode
from consent.models import LogEntry, SignedTreeHead, SigningKey


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
