"""Serializers more than one consent API module answers with, and their list pagination.

Component names (``Meta.ref_name``) are part of the published OpenAPI schema: clients generate
types from them, so they stay put when code moves.
"""

from __future__ import annotations

from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from consent.lib.uses import MEDIA_TYPES, USE_CATEGORIES
from consent.models import Record
from registry.api.base import ApiView
from registry.api.pagination import Pagination

# Plain strings in the schema (the services validate against consent.lib.uses and answer
# with the allowed values), so one vocabulary does not become several OpenAPI enums.
CATEGORIES_HELP = f"use categories: {', '.join(USE_CATEGORIES)}"
MEDIA_HELP = f"media types: {', '.join(MEDIA_TYPES)}"


class TreeHeadSerializer(serializers.Serializer):
    tree_size = serializers.IntegerField(min_value=0)
    root_hash = serializers.CharField(help_text="base64 SHA-256 root of the first tree_size")
    timestamp = serializers.IntegerField(help_text="milliseconds since the Unix epoch")
    kid = serializers.CharField(help_text="hex SHA-256 of the signing key's public key")
    signature = serializers.CharField(
        help_text='base64 Ed25519 signature of the RFC 8785 form of {"tree_size", "root_hash", '
        '"timestamp"}'
    )

    class Meta:
        ref_name = "SignedTreeHead"


class InclusionProofSerializer(serializers.Serializer):
    leafIdx = serializers.IntegerField(min_value=0)  # transparency-dev vector field names
    treeSize = serializers.IntegerField(min_value=1)
    root = serializers.CharField()
    leafHash = serializers.CharField()
    proof = serializers.ListField(child=serializers.CharField())

    class Meta:
        ref_name = "InclusionProof"


class RecordSerializer(serializers.Serializer):
    record_id = serializers.CharField()
    kind = serializers.CharField()
    created_at = serializers.DateTimeField()
    revoked_at = serializers.DateTimeField(allow_null=True)
    organisation = serializers.CharField(source="organisation.slug", allow_null=True)
    categories = serializers.ListField(child=serializers.CharField())
    media_types = serializers.ListField(child=serializers.CharField())
    territory = serializers.CharField()
    valid_from = serializers.DateTimeField(allow_null=True)
    valid_until = serializers.DateTimeField(allow_null=True)
    purpose = serializers.CharField()
    project_ref = serializers.CharField()
    revokes = serializers.CharField(source="revokes.record_id", allow_null=True)
    log_index = serializers.IntegerField(source="log_entry.index")
    co_signed = serializers.SerializerMethodField()

    class Meta:
        ref_name = "ConsentRecord"

    def get_co_signed(self, record: Record) -> bool:
        return record.person_key_id is not None


class ConsentRequestSerializer(serializers.Serializer):
    request_id = serializers.CharField()
    organisation = serializers.CharField(source="organisation.slug", allow_null=True)
    organisation_name = serializers.CharField(source="organisation.name")
    status = serializers.CharField()
    purpose = serializers.CharField()
    categories = serializers.ListField(child=serializers.CharField())
    media_types = serializers.ListField(child=serializers.CharField())
    territory = serializers.CharField()
    valid_from = serializers.DateTimeField(allow_null=True)
    valid_until = serializers.DateTimeField(allow_null=True)
    project_ref = serializers.CharField()
    grant = serializers.CharField(source="grant.record_id", allow_null=True)
    created_at = serializers.DateTimeField()
    answered_at = serializers.DateTimeField(allow_null=True)

    class Meta:
        ref_name = "ConsentRequest"


def paginated_response(request: Request, view: ApiView, queryset, serializer_class) -> Response:
    """One ``limit``/``offset`` page of ``queryset``, serialized with ``serializer_class``, by
    the view's ``pagination_class``: the one the OpenAPI schema declares for it."""
    paginator = (getattr(view, "pagination_class", None) or Pagination)()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)
