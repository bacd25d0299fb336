"""A person's own consent API: their records, opt-outs, drafts to co-sign, keys and requests.

Also one record with its proof, for the person it names or the organisation holding it. People
act with their session or a personal token (scopes consent:read / consent:write). Views
validate, call one service and serialize.
"""

from __future__ import annotations

from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from consent import selectors, services
from consent.api.callers import acting_user, person_or_403
from consent.api.serializers import (
    CATEGORIES_HELP,
    ConsentRequestSerializer,
    InclusionProofSerializer,
    RecordSerializer,
    TreeHeadSerializer,
    paginated_response,
)
from consent.lib.signing import b64decode
from consent.lib.uses import ALL_USES
from consent.models import RecordKind
from registry.api.base import ApiView
from registry.api.exceptions import ErrorSerializer
from registry.api.pagination import Pagination
from registry.lib.errors import NotFound, ValidationFailed
from registry.permissions import (
    HasScopes,
    IsPerson,
    request_organisation,
    request_person,
)


def _signature_bytes(data: dict) -> dict:
    """The optional person-signed draft fields, decoded for the services."""
    signature = data.get("person_signature")
    if not signature:
        return {}
    try:
        raw = b64decode(signature)
    except ValueError as error:
        raise ValidationFailed(f"person_signature: {error}") from None
    if not data.get("record_id") or not data.get("issued_at"):
        raise ValidationFailed("A person_signature needs the draft's record_id and issued_at.")
    return {
        "person_signature": raw,
        "record_id": data["record_id"],
        "issued_at": data["issued_at"],
    }


class SignedDraftSerializer(serializers.Serializer):
    person_signature = serializers.CharField(
        required=False,
        help_text="base64 Ed25519 signature by your registered key over the RFC 8785 form of "
        "the draft payload (POST /me/consent/drafts)",
    )
    record_id = serializers.CharField(required=False, help_text="the draft's record_id")
    issued_at = serializers.DateTimeField(required=False, help_text="the draft's issued_at")


class RecordProofSerializer(serializers.Serializer):
    record_id = serializers.CharField()
    leaf_index = serializers.IntegerField()
    envelope = serializers.JSONField()
    tree_head = TreeHeadSerializer()
    inclusion_proof = InclusionProofSerializer()

    class Meta:
        ref_name = "ConsentRecordProof"


class MyRecordsApi(ApiView):
    permission_classes = [IsPerson, HasScopes.require("consent:read")]
    pagination_class = Pagination

    @extend_schema(
        operation_id="my_consent_records",
        tags=["consent: people"],
        summary="My records (opt-outs, grants, revocations, attestations), newest first",
        parameters=[
            OpenApiParameter("kind", str, enum=[k.value for k in RecordKind], required=False),
            OpenApiParameter("active", bool, required=False, description="only unrevoked"),
        ],
        responses={200: RecordSerializer(many=True)},
    )
    def get(self, request: Request) -> Response:
        records = selectors.person_records(person=person_or_403(request))
        kind = request.query_params.get("kind")
        if kind:
            records = records.filter(kind=kind)
        if request.query_params.get("active") in ("1", "true"):
            records = records.filter(revoked_at__isnull=True)
        return paginated_response(request, self, records, RecordSerializer)


class MyOptOutsApi(ApiView):
    permission_classes = [IsPerson, HasScopes.require("consent:write")]

    class InputSerializer(SignedDraftSerializer):
        categories = serializers.ListField(
            child=serializers.CharField(),
            allow_null=True,
            help_text=f'{CATEGORIES_HELP}; null or ["{ALL_USES}"] for every use',
        )

        class Meta:
            ref_name = "OptOutInput"

    @extend_schema(
        operation_id="my_optout_create",
        tags=["consent: people"],
        summary="Opt out of synthetic media of my likeness (all uses or listed categories)",
        request=InputSerializer,
        responses={201: RecordSerializer, 400: OpenApiResponse(ErrorSerializer)},
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        record = services.optout_record(
            person=person_or_403(request),
            categories=data.validated_data["categories"],
            actor=acting_user(request),
            **_signature_bytes(data.validated_data),
        )
        return Response(RecordSerializer(record).data, status=201)


class MyDraftsApi(ApiView):
    permission_classes = [IsPerson, HasScopes.require("consent:write")]

    class InputSerializer(serializers.Serializer):
        kind = serializers.ChoiceField(choices=["optout", "revocation", "grant"])
        categories = serializers.ListField(
            child=serializers.CharField(),
            allow_null=True,
            required=False,
            help_text=CATEGORIES_HELP,
        )
        record_id = serializers.CharField(
            required=False, help_text="revocation: the record to revoke"
        )
        request_id = serializers.CharField(
            required=False, help_text="grant: the consent request to approve"
        )

        class Meta:
            ref_name = "DraftInput"

    class OutputSerializer(serializers.Serializer):
        payload = serializers.JSONField(help_text="sign the RFC 8785 form of this object")

        class Meta:
            ref_name = "Draft"

    @extend_schema(
        operation_id="my_record_draft",
        tags=["consent: people"],
        summary="The exact payload to sign with my own key before submitting a decision",
        request=InputSerializer,
        responses={200: OutputSerializer, 400: OpenApiResponse(ErrorSerializer)},
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        person = person_or_403(request)
        kind = data.validated_data["kind"]
        if kind == "revocation":
            record = selectors.record_get(record_id=data.validated_data.get("record_id", ""))
            if record.person_id != person.pk:
                raise NotFound("No such record.")
            payload = services.record_draft(kind=kind, person=person, record=record)
        elif kind == "grant":
            consent_request = selectors.request_for_person(
                person=person, request_id=data.validated_data.get("request_id", "")
            )
            payload = services.grant_draft(request=consent_request, person=person)
        else:
            payload = services.record_draft(
                kind=kind, person=person, categories=data.validated_data.get("categories")
            )
        return Response(self.OutputSerializer({"payload": payload}).data)


class MyKeysApi(ApiView):
    permission_classes = [IsPerson, HasScopes.require("consent:write")]

    class InputSerializer(serializers.Serializer):
        public_key = serializers.CharField(help_text="base64 raw 32-byte Ed25519 public key")

        class Meta:
            ref_name = "PersonKeyInput"

    class OutputSerializer(serializers.Serializer):
        kid = serializers.CharField()
        created_at = serializers.DateTimeField()
        revoked_at = serializers.DateTimeField(allow_null=True)

        class Meta:
            ref_name = "PersonKey"

    @extend_schema(
        operation_id="my_keys",
        tags=["consent: people"],
        summary="My registered signing keys",
        responses={200: OutputSerializer(many=True)},
    )
    def get(self, request: Request) -> Response:
        keys = person_or_403(request).signing_keys.order_by("created_at")
        return Response(self.OutputSerializer(keys, many=True).data)

    @extend_schema(
        operation_id="my_key_register",
        tags=["consent: people"],
        summary="Register my own Ed25519 public key to co-sign my records",
        request=InputSerializer,
        responses={201: OutputSerializer, 400: OpenApiResponse(ErrorSerializer)},
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            raw = b64decode(data.validated_data["public_key"])
        except ValueError as error:
            raise ValidationFailed(f"public_key: {error}") from None
        key = services.person_key_register(person=person_or_403(request), public_key=raw)
        return Response(self.OutputSerializer(key).data, status=201)


class MyRequestsApi(ApiView):
    permission_classes = [IsPerson, HasScopes.require("consent:read")]
    pagination_class = Pagination

    @extend_schema(
        operation_id="my_consent_requests",
        tags=["consent: people"],
        summary="Consent requests waiting for my answer",
        responses={200: ConsentRequestSerializer(many=True)},
    )
    def get(self, request: Request) -> Response:
        waiting = selectors.requests_waiting(person=person_or_403(request))
        return paginated_response(request, self, waiting, ConsentRequestSerializer)


class MyRequestApproveApi(ApiView):
    permission_classes = [IsPerson, HasScopes.require("consent:write")]

    @extend_schema(
        operation_id="my_consent_request_approve",
        tags=["consent: people"],
        summary="Approve a consent request: records a signed grant exactly as requested",
        request=SignedDraftSerializer,
        responses={
            201: RecordSerializer,
            404: OpenApiResponse(ErrorSerializer),
            409: OpenApiResponse(ErrorSerializer),
        },
    )
    def post(self, request: Request, request_id: str) -> Response:
        data = SignedDraftSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        person = person_or_403(request)
        consent_request = selectors.request_for_person(person=person, request_id=request_id)
        grant = services.consent_request_approve(
            request=consent_request,
            person=person,
            actor=acting_user(request),
            **_signature_bytes(data.validated_data),
        )
        return Response(RecordSerializer(grant).data, status=201)


class MyRequestDeclineApi(ApiView):
    permission_classes = [IsPerson, HasScopes.require("consent:write")]

    @extend_schema(
        operation_id="my_consent_request_decline",
        tags=["consent: people"],
        summary="Decline a consent request",
        request=None,
        responses={
            200: ConsentRequestSerializer,
            404: OpenApiResponse(ErrorSerializer),
            409: OpenApiResponse(ErrorSerializer),
        },
    )
    def post(self, request: Request, request_id: str) -> Response:
        person = person_or_403(request)
        consent_request = selectors.request_for_person(person=person, request_id=request_id)
        declined = services.consent_request_decline(
            request=consent_request, person=person, actor=acting_user(request)
        )
        return Response(ConsentRequestSerializer(declined).data)


class RecordApi(ApiView):
    """One record with its proof: for the person it names and, for a grant, its grantee.

    Both read with ``consent:read``: a personal token that only holds ``profile:read`` reads no
    consent records here, as on ``/me/consent/records``."""

    permission_classes = [HasScopes.require("consent:read")]

    @extend_schema(
        operation_id="consent_record",
        tags=["consent: records"],
        summary="A record I am named in or hold, with its signed envelope and inclusion proof",
        responses={
            200: inline_serializer(
                "ConsentRecordWithProof",
                {"record": RecordSerializer(), "proof": RecordProofSerializer()},
            ),
            403: OpenApiResponse(ErrorSerializer),
            404: OpenApiResponse(ErrorSerializer),
        },
    )
    def get(self, request: Request, record_id: str) -> Response:
        record = selectors.record_get(record_id=record_id)
        person = request_person(request)
        organisation = request_organisation(request)
        own = person is not None and record.person_id == person.pk
        held = organisation is not None and record.organisation_id == organisation.pk
        if not (own or held):
            raise NotFound("No such record.", detail={"record_id": record_id})
        return Response(
            {
                "record": RecordSerializer(record).data,
                "proof": RecordProofSerializer(selectors.record_with_proof(record=record)).data,
            }
        )


class RecordRevokeApi(ApiView):
    permission_classes = [IsPerson, HasScopes.require("consent:write")]

    @extend_schema(
        operation_id="consent_record_revoke",
        tags=["consent: people"],
        summary="Revoke my opt-out or grant, effective immediately",
        description="Answers only after the revocation is committed: every consent check "
        "that starts after this answer reports the grant as revoked.",
        request=SignedDraftSerializer,
        responses={
            201: RecordSerializer,
            404: OpenApiResponse(ErrorSerializer),
            409: OpenApiResponse(ErrorSerializer),
        },
    )
    def post(self, request: Request, record_id: str) -> Response:
        data = SignedDraftSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        person = person_or_403(request)
        record = selectors.record_get(record_id=record_id)
        if record.person_id != person.pk:
            raise NotFound("No such record.", detail={"record_id": record_id})
        revocation = services.record_revoke(
            record=record, actor=acting_user(request), **_signature_bytes(data.validated_data)
        )
        return Response(RecordSerializer(revocation).data, status=201)
