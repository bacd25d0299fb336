"""Serializers of the checks API, for the OpenAPI schema: what a check and its result look like.

Errors use the one envelope, ``registry.api.exceptions.ErrorSerializer``. The responses
themselves are built by the services (``check_representation``); the request bodies are nested
in their view (``ChecksApi``).
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from matching.models import CheckKind
from matching.services import MAX_EMBEDDINGS


class FaceResultSerializer(serializers.Serializer):
    box = serializers.ListField(
        child=serializers.IntegerField(), help_text="[top, right, bottom, left]"
    )
    start_s = serializers.FloatField(required=False, allow_null=True, help_text="video only")
    end_s = serializers.FloatField(required=False, allow_null=True, help_text="video only")
    match = serializers.ChoiceField(choices=["match", "possible", "none"])
    distance = serializers.FloatField(allow_null=True)
    verdict = serializers.ChoiceField(choices=["blocked", "needs_review", "consented", "clear"])
    reference = serializers.CharField(
        allow_null=True,
        help_text="Opaque reference of the matched person: stable for your organisation, "
        "different for every other one. Never a name, email or registry id.",
    )
    optout = serializers.JSONField(allow_null=True, help_text='{"categories": [...]}')
    consent = serializers.JSONField(
        allow_null=True, help_text='{"status": "consented"|"not_consented", "grant_record_id"}'
    )

    class Meta:
        ref_name = "CheckFaceResult"


class CheckResultSerializer(serializers.Serializer):
    verdict = serializers.ChoiceField(choices=["blocked", "needs_review", "consented", "clear"])
    category = serializers.CharField()
    faces_found = serializers.IntegerField()
    faces = FaceResultSerializer(many=True)
    media_sha256 = serializers.CharField()
    c2pa = serializers.JSONField(required=False)
    receipt = serializers.JSONField(help_text="Signed receipt (Ed25519), verifiable offline.")

    class Meta:
        ref_name = "CheckResult"


class ReviewSerializer(serializers.Serializer):
    face = serializers.IntegerField(help_text="Index in result.faces")
    decision = serializers.ChoiceField(choices=["not_this_person", "treat_as_blocked"])
    decided_by = serializers.EmailField(allow_null=True, help_text="The member who decided")
    decided_at = serializers.DateTimeField()

    class Meta:
        ref_name = "CheckReview"


class CheckSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    kind = serializers.ChoiceField(choices=CheckKind.choices)
    status = serializers.ChoiceField(choices=["queued", "running", "done", "failed", "cancelled"])
    progress = serializers.IntegerField(min_value=0, max_value=100)
    category = serializers.CharField()
    stored = serializers.BooleanField(
        help_text="True for every check made for an organisation (readable with GET later)."
    )
    source = serializers.ChoiceField(
        choices=["api", "web"], help_text="web: a member checked it through the web form"
    )
    api_key = serializers.IntegerField(
        allow_null=True, help_text="Id of the API key that made the check (null: a member)"
    )
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    result = CheckResultSerializer(allow_null=True)
    error = serializers.JSONField(allow_null=True)
    detail_dropped = serializers.BooleanField(
        help_text="The retention period passed: result.faces is empty; verdict, time, key and "
        "receipt remain."
    )
    reviews = ReviewSerializer(many=True, help_text="Members' decisions on faces needing review")

    class Meta:
        ref_name = "Check"


@extend_schema_field(
    {
        "type": "array",
        "minItems": 1,
        "maxItems": MAX_EMBEDDINGS,
        "items": {"type": "array", "items": {"type": "number"}, "minItems": 128, "maxItems": 128},
    }
)
class EmbeddingsField(serializers.JSONField):
    """A list of embeddings, checked as one numpy array by the service (shape, finite values):
    validating 12,800 numbers one DRF field at a time would cost more than the search."""
