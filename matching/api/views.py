"""Checks API: platforms submit an image, a video or precomputed embeddings for a use, and read
back every check they made.

Thin views: validate the request, call ``matching.services``, serialize. Images and embeddings
are answered at once (200); videos are jobs (202, then ``GET /checks/{id}``).
"""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from consent.lib.uses import USE_CATEGORIES
from matching import services
from matching.api.serializers import CheckSerializer, EmbeddingsField, ReviewSerializer
from matching.models import Verdict
from matching.ratelimit import check_rate
from matching.selectors.checks import WEB_FORM_KEY, check_filters_clean, organisation_checks
from registry import scopes
from registry.api.base import ApiView
from registry.api.exceptions import ErrorSerializer, kind_of
from registry.api.pagination import Pagination
from registry.lib.errors import PayloadTooLarge, PermissionDeniedError, ValidationFailed
from registry.lib.sizes import megabytes
from registry.permissions import (
    HasScope,
    HasScopes,
    request_api_key,
    request_organisation,
    request_session_user,
)

# Multipart framing around the file; a request longer than the largest file plus this is refused
# from its Content-Length, before a byte of it is read.
MULTIPART_OVERHEAD = 64 * 1024


def _organisation(request: Request):
    """Checks are always made for an organisation: its key, or a member's chosen organisation."""
    organisation = request_organisation(request)
    if organisation is None:
        raise PermissionDeniedError(
            "Checks are made for an organisation: use an organisation's API key, or as a member "
            "name the organisation in the X-Organisation header."
        )
    return organisation


# A key that submits checks may read their results: checks:read or checks:write.
READ_CHECKS = scopes.any_of(scopes.CHECKS_READ, scopes.CHECKS_WRITE)

_LIST_PARAMETERS = [
    OpenApiParameter(
        "verdict", OpenApiTypes.STR, enum=Verdict.values, description="Only this verdict."
    ),
    OpenApiParameter(
        "since",
        OpenApiTypes.DATE,
        description="Checks made on or after this day (UTC), as YYYY-MM-DD.",
    ),
    OpenApiParameter(
        "until",
        OpenApiTypes.DATE,
        description="Checks made on or before this day (UTC), as YYYY-MM-DD.",
    ),
    OpenApiParameter(
        "api_key",
        OpenApiTypes.STR,
        description=f"Only checks made with this API key (its id), or {WEB_FORM_KEY!r} for "
        "checks members made through the web form.",
    ),
]


class ChecksApi(ApiView):
    """GET and POST /api/v1/checks"""

    permission_classes = [HasScope]
    scopes_by_method = {"GET": [READ_CHECKS], "POST": [scopes.CHECKS_WRITE]}
    parser_classes = [JSONParser, MultiPartParser]
    pagination_class = Pagination

    @extend_schema(
        operation_id="checks_list",
        summary="Every check the organisation made (all verdicts), newest first",
        parameters=_LIST_PARAMETERS,
        responses={200: CheckSerializer(many=True)},
    )
    def get(self, request: Request) -> Response:
        organisation = _organisation(request)
        params = request.query_params
        filters = check_filters_clean(
            verdict=params.get("verdict"),
            since=params.get("since"),
            until=params.get("until"),
            api_key=params.get("api_key"),
        )
        checks = organisation_checks(organisation=organisation, filters=filters)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(checks, request, view=self)
        return paginator.get_paginated_response(
            [services.check_representation(check) for check in page]
        )

    # Describes the JSON body in the schema; services.embeddings_check validates it.
    class JsonInputSerializer(serializers.Serializer):
        category = serializers.ChoiceField(choices=USE_CATEGORIES)
        embeddings = EmbeddingsField(
            help_text="Up to 100 face embeddings (128 numbers each) from "
            "dlib_face_recognition_resnet_model_v1 (face_recognition's face_encodings)."
        )
        boxes = serializers.ListField(
            child=serializers.ListField(
                child=serializers.IntegerField(), min_length=4, max_length=4
            ),
            required=False,
            help_text="Optional [top, right, bottom, left] per embedding, echoed back.",
        )

        class Meta:
            ref_name = "CheckEmbeddingsInput"

    class MultipartInputSerializer(serializers.Serializer):
        file = serializers.FileField(
            help_text="JPEG, PNG or WebP image; MP4/MOV, WebM/MKV or AVI video"
        )
        category = serializers.ChoiceField(choices=USE_CATEGORIES)
        callback_url = serializers.URLField(required=False, help_text="video: POSTed the result")
        callback_secret = serializers.CharField(
            required=False, min_length=16, help_text="HMAC-SHA256 key for the callback signature"
        )

        class Meta:
            ref_name = "CheckMediaInput"

    @extend_schema(
        operation_id="checks_create",
        summary="Check media (or embeddings) against the registry for an intended use",
        request={
            "multipart/form-data": MultipartInputSerializer,
            "application/json": JsonInputSerializer,
        },
        responses={
            200: OpenApiResponse(CheckSerializer, description="image or embeddings: the result"),
            202: OpenApiResponse(CheckSerializer, description="video: queued; poll GET"),
            400: ErrorSerializer,
            413: ErrorSerializer,
            415: ErrorSerializer,
            429: ErrorSerializer,
        },
    )
    def post(self, request: Request) -> Response:
        organisation = _organisation(request)
        key = request_api_key(request)
        check_rate(
            key_id=key.pk if key else None,
            organisation_id=organisation.pk if organisation else None,
        )
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:  # malformed: left to the parser, which reads what is there
            length = 0
        if length > max(settings.MAX_VIDEO_BYTES, settings.MAX_IMAGE_BYTES) + MULTIPART_OVERHEAD:
            raise PayloadTooLarge(
                f"The upload is larger than any check accepts (videos up to "
                f"{megabytes(settings.MAX_VIDEO_BYTES)}, images up to "
                f"{megabytes(settings.MAX_IMAGE_BYTES)}).",
                detail={"max_video_bytes": settings.MAX_VIDEO_BYTES},
            )
        if request.content_type.startswith("multipart/"):
            return self._media(request, organisation, key)
        # Validated by the service (embeddings as one numpy array), not by JsonInputSerializer.
        data = request.data
        if not isinstance(data, dict):
            raise ValidationFailed(
                'Send a JSON object: {"category": ..., "embeddings": [[...], ...]}.',
                code="malformed_request",
            )
        category = data.get("category")
        if category is not None and not isinstance(category, str):
            raise ValidationFailed(
                f"category: expected a string, got {kind_of(category)}.",
                detail={"category": "expected a string"},
            )
        body = services.embeddings_check(
            category=category,
            embeddings=data.get("embeddings"),
            boxes=data.get("boxes"),
            organisation=organisation,
            api_key=key,
            submitted_by=request_session_user(request),
        )
        return Response(body, status=200)

    def _media(self, request: Request, organisation, key) -> Response:
        data = self.MultipartInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        body, status = services.media_check_submit(
            upload=data.validated_data["file"],
            category=data.validated_data["category"],
            organisation=organisation,
            api_key=key,
            submitted_by=request_session_user(request),
            callback_url=data.validated_data.get("callback_url", ""),
            callback_secret=data.validated_data.get("callback_secret", ""),
        )
        return Response(body, status=status)


class CheckApi(ApiView):
    """GET /api/v1/checks/{id}"""

    permission_classes = [HasScopes.require(READ_CHECKS)]

    @extend_schema(
        operation_id="checks_retrieve",
        summary="A check's status, progress and (when done) result",
        responses={200: CheckSerializer, 404: ErrorSerializer},
    )
    def get(self, request: Request, check_id: str) -> Response:
        check = services.check_get(check_id=check_id, organisation=_organisation(request))
        return Response(services.check_representation(check))


class CheckCancelApi(ApiView):
    """POST /api/v1/checks/{id}/cancel"""

    permission_classes = [HasScopes.require(scopes.CHECKS_WRITE)]

    @extend_schema(
        operation_id="checks_cancel",
        summary="Cancel a queued or running video check",
        request=None,
        responses={200: CheckSerializer, 404: ErrorSerializer, 409: ErrorSerializer},
    )
    def post(self, request: Request, check_id: str) -> Response:
        check = services.check_get(check_id=check_id, organisation=_organisation(request))
        check = services.check_cancel(check=check)
        return Response(services.check_representation(check))


class CheckReviewApi(ApiView):
    """POST /api/v1/checks/{id}/reviews: a member's decision on a face that needs review."""

    permission_classes = [HasScopes.require(scopes.CHECKS_WRITE)]

    class InputSerializer(serializers.Serializer):
        face = serializers.IntegerField(
            min_value=0, max_value=10_000, help_text="Index in result.faces"
        )
        decision = serializers.ChoiceField(choices=["not_this_person", "treat_as_blocked"])

        class Meta:
            ref_name = "CheckReviewInput"

    @extend_schema(
        operation_id="checks_review",
        summary="Decide a face that needs review (signed-in members only)",
        request=InputSerializer,
        responses={201: ReviewSerializer, 404: ErrorSerializer, 409: ErrorSerializer},
    )
    def post(self, request: Request, check_id: str) -> Response:
        user = request_session_user(request)
        if user is None:
            raise PermissionDeniedError(
                "Review decisions are made by a signed-in member of the organisation, not by "
                "an API key: they record who decided."
            )
        check = services.check_get(check_id=check_id, organisation=_organisation(request))
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        review = services.review_decide(
            check=check,
            face=data.validated_data["face"],
            decision=data.validated_data["decision"],
            decided_by=user,
        )
        return Response(services.review_representation(review), status=201)
