"""Public, read-only API of the transparency log.

Everything here is meant to be fetched by anyone and checked offline: no authentication (so
no session or CSRF either), and proofs use the field names of the transparency-dev test vectors
so a client can feed them straight to an RFC 9162 verifier.
"""

from __future__ import annotations

from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from consent import selectors, services
from consent.lib.canonical import parse_json
from consent.lib.signing import b64decode, b64encode
from consent.lib.uses import ALL_USES, MEDIA_TYPES, USE_CATEGORIES
from consent.models import ConsentCheck, Record, RecordKind, WebhookDelivery, WebhookEndpoint
from registry.lib.errors import NotFound, PermissionDeniedError, ValidationFailed
from registry.models import Organisation, Person, User
from registry.permissions import (
    HasScopes,
    IsPerson,
    request_organisation,
    request_person,
    request_scopes,
)

# Past tree sizes never change, so a proof between two given sizes can be cached for long.
_IMMUTABLE_CACHE = "public, max-age=86400"
_SHORT_CACHE = "public, max-age=60"
_MAX_SIZE = 2**62


class ErrorSerializer(serializers.Serializer):
    class Body(serializers.Serializer):
        code = serializers.CharField()
        message = serializers.CharField()
        detail = serializers.JSONField(allow_null=True)

        class Meta:
            ref_name = "LogErrorBody"

    error = Body()

    class Meta:
        ref_name = "LogError"


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


class ConsistencyProofSerializer(serializers.Serializer):
    size1 = serializers.IntegerField(min_value=0)
    size2 = serializers.IntegerField(min_value=0)
    root1 = serializers.CharField()
    root2 = serializers.CharField()
    proof = serializers.ListField(child=serializers.CharField())

    class Meta:
        ref_name = "ConsistencyProof"


class TreeHeadApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="log_tree_head",
        tags=["transparency log"],
        summary="The latest signed tree head",
        responses={200: TreeHeadSerializer, 404: OpenApiResponse(ErrorSerializer)},
    )
    def get(self, request: Request) -> Response:
        head = selectors.latest_tree_head()
        if head is None:
            raise NotFound("No tree head has been signed yet.", code="no_tree_head")
        response = Response(TreeHeadSerializer(selectors.tree_head_description(head)).data)
        response["Cache-Control"] = _SHORT_CACHE
        return response


class LogEntryApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    class OutputSerializer(serializers.Serializer):
        index = serializers.IntegerField()
        record = serializers.JSONField(
            help_text='the signed envelope {"payload", "signatures": [{"kid", "sig"}]}'
        )
        record_bytes = serializers.CharField(
            help_text="base64 of the exact canonical bytes the leaf hash is computed over"
        )
        leaf_hash = serializers.CharField()
        tree_head = TreeHeadSerializer()
        inclusion_proof = InclusionProofSerializer()

        class Meta:
            ref_name = "LogEntryWithProof"

    @extend_schema(
        operation_id="log_entry",
        tags=["transparency log"],
        summary="One log entry with its inclusion proof against the latest signed tree head",
        responses={200: OutputSerializer, 404: OpenApiResponse(ErrorSerializer)},
    )
    def get(self, request: Request, index: int) -> Response:
        entry, head, proof = selectors.log_entry_with_proof(index=index)
        record = bytes(entry.record)
        data = {
            "index": entry.index,
            "record": parse_json(record),
            "record_bytes": b64encode(record),
            "leaf_hash": b64encode(bytes(entry.leaf_hash)),
            "tree_head": selectors.tree_head_description(head),
            "inclusion_proof": proof.to_json(),
        }
        response = Response(self.OutputSerializer(data).data)
        response["Cache-Control"] = _SHORT_CACHE
        return response


class InclusionProofApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    class InputSerializer(serializers.Serializer):
        leaf_index = serializers.IntegerField(min_value=0, max_value=_MAX_SIZE)
        tree_size = serializers.IntegerField(min_value=1, max_value=_MAX_SIZE)

    @extend_schema(
        operation_id="log_inclusion_proof",
        tags=["transparency log"],
        summary="Inclusion proof of one entry in the tree of a given size",
        parameters=[
            OpenApiParameter("leaf_index", int, required=True, description="entry index"),
            OpenApiParameter("tree_size", int, required=True, description="size of the tree"),
        ],
        responses={
            200: InclusionProofSerializer,
            400: OpenApiResponse(ErrorSerializer),
            404: OpenApiResponse(ErrorSerializer),
        },
    )
    def get(self, request: Request) -> Response:
        params = self.InputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        proof = selectors.inclusion_proof(**params.validated_data)
        response = Response(InclusionProofSerializer(proof.to_json()).data)
        response["Cache-Control"] = _IMMUTABLE_CACHE
        return response


class ConsistencyProofApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    class InputSerializer(serializers.Serializer):
        first = serializers.IntegerField(min_value=0, max_value=_MAX_SIZE)
        second = serializers.IntegerField(min_value=0, max_value=_MAX_SIZE)

    @extend_schema(
        operation_id="log_consistency_proof",
        tags=["transparency log"],
        summary="Proof that the tree of size `first` is a prefix of the tree of size `second`",
        parameters=[
            OpenApiParameter("first", int, required=True, description="the older tree size"),
            OpenApiParameter("second", int, required=True, description="the newer tree size"),
        ],
        responses={
            200: ConsistencyProofSerializer,
            400: OpenApiResponse(ErrorSerializer),
            404: OpenApiResponse(ErrorSerializer),
        },
    )
    def get(self, request: Request) -> Response:
        params = self.InputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        proof = selectors.consistency_proof(
            size1=params.validated_data["first"], size2=params.validated_data["second"]
        )
        response = Response(ConsistencyProofSerializer(proof.to_json()).data)
        response["Cache-Control"] = _IMMUTABLE_CACHE
        return response


class PublishedKeysApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    class OutputSerializer(serializers.Serializer):
        class Key(serializers.Serializer):
            kid = serializers.CharField()
            alg = serializers.ChoiceField(choices=["Ed25519"])
            public_key = serializers.CharField(help_text="base64 raw 32-byte public key")
            status = serializers.ChoiceField(choices=["current", "retired"])
            created_at = serializers.CharField()
            retired_at = serializers.CharField(allow_null=True)

            class Meta:
                ref_name = "PublishedKey"

        keys = Key(many=True)

        class Meta:
            ref_name = "PublishedKeys"

    @extend_schema(
        operation_id="published_signing_keys",
        tags=["transparency log"],
        summary="The registry's signing keys, current and retired",
        responses={200: OutputSerializer},
    )
    def get(self, request: Request) -> Response:
        response = Response(self.OutputSerializer({"keys": selectors.published_keys()}).data)
        response["Cache-Control"] = _SHORT_CACHE
        return response


# =================================================================================================
# Records, consent requests, consent checks and webhooks (records engineer)
#
# People act with their session or a personal token (scopes consent:read / consent:write);
# organisations with an API key, or a member's session naming the organisation in
# X-Organisation. Views validate, call one service and serialize.
# =================================================================================================

# Plain strings in the schema (the services validate against consent.lib.uses and answer
# with the allowed values), so one vocabulary does not become several OpenAPI enums.
_CATEGORIES_HELP = f"use categories: {', '.join(USE_CATEGORIES)}"
_MEDIA_HELP = f"media types: {', '.join(MEDIA_TYPES)}"


def _person_or_403(request: Request) -> Person:
    person = request_person(request)
    if person is None:
        raise PermissionDeniedError("This account has no person in the registry.")
    return person


def _organisation_or_403(request: Request) -> Organisation:
    organisation = request_organisation(request)
    if organisation is None:
        raise PermissionDeniedError(
            "Act for an organisation: use its API key, or name it in the X-Organisation header."
        )
    return organisation


def _actor(request: Request) -> User | None:
    user = request.user
    return user if isinstance(user, User) else None


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


class RecordProofSerializer(serializers.Serializer):
    record_id = serializers.CharField()
    leaf_index = serializers.IntegerField()
    envelope = serializers.JSONField()
    tree_head = TreeHeadSerializer()
    inclusion_proof = InclusionProofSerializer()

    class Meta:
        ref_name = "ConsentRecordProof"


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


def _records_page(request: Request, view: APIView, queryset, serializer_class) -> Response:
    paginator = LimitOffsetPagination()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)


class MyRecordsApi(APIView):
    permission_classes = [IsPerson, HasScopes.require("consent:read")]

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
        records = selectors.person_records(person=_person_or_403(request))
        kind = request.query_params.get("kind")
        if kind:
            records = records.filter(kind=kind)
        if request.query_params.get("active") in ("1", "true"):
            records = records.filter(revoked_at__isnull=True)
        return _records_page(request, self, records, RecordSerializer)


class MyOptOutsApi(APIView):
    permission_classes = [IsPerson, HasScopes.require("consent:write")]

    class InputSerializer(SignedDraftSerializer):
        categories = serializers.ListField(
            child=serializers.CharField(),
            allow_null=True,
            help_text=f'{_CATEGORIES_HELP}; null or ["{ALL_USES}"] for every use',
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
            person=_person_or_403(request),
            categories=data.validated_data["categories"],
            actor=_actor(request),
            **_signature_bytes(data.validated_data),
        )
        return Response(RecordSerializer(record).data, status=201)


class MyDraftsApi(APIView):
    permission_classes = [IsPerson, HasScopes.require("consent:write")]

    class InputSerializer(serializers.Serializer):
        kind = serializers.ChoiceField(choices=["optout", "revocation", "grant"])
        categories = serializers.ListField(
            child=serializers.CharField(),
            allow_null=True,
            required=False,
            help_text=_CATEGORIES_HELP,
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
        person = _person_or_403(request)
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


class MyKeysApi(APIView):
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
        keys = _person_or_403(request).signing_keys.order_by("created_at")
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
        key = services.person_key_register(person=_person_or_403(request), public_key=raw)
        return Response(self.OutputSerializer(key).data, status=201)


class MyRequestsApi(APIView):
    permission_classes = [IsPerson, HasScopes.require("consent:read")]

    @extend_schema(
        operation_id="my_consent_requests",
        tags=["consent: people"],
        summary="Consent requests waiting for my answer",
        responses={200: ConsentRequestSerializer(many=True)},
    )
    def get(self, request: Request) -> Response:
        waiting = selectors.requests_waiting(person=_person_or_403(request))
        return _records_page(request, self, waiting, ConsentRequestSerializer)


class MyRequestApproveApi(APIView):
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
        person = _person_or_403(request)
        consent_request = selectors.request_for_person(person=person, request_id=request_id)
        grant = services.consent_request_approve(
            request=consent_request,
            person=person,
            actor=_actor(request),
            **_signature_bytes(data.validated_data),
        )
        return Response(RecordSerializer(grant).data, status=201)


class MyRequestDeclineApi(APIView):
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
        person = _person_or_403(request)
        consent_request = selectors.request_for_person(person=person, request_id=request_id)
        declined = services.consent_request_decline(
            request=consent_request, person=person, actor=_actor(request)
        )
        return Response(ConsentRequestSerializer(declined).data)


class RecordApi(APIView):
    """One record with its proof: for the person it names and, for a grant, its grantee."""

    @extend_schema(
        operation_id="consent_record",
        tags=["consent: records"],
        summary="A record I am named in or hold, with its signed envelope and inclusion proof",
        responses={
            200: inline_serializer(
                "ConsentRecordWithProof",
                {"record": RecordSerializer(), "proof": RecordProofSerializer()},
            ),
            404: OpenApiResponse(ErrorSerializer),
        },
    )
    def get(self, request: Request, record_id: str) -> Response:
        record = selectors.record_get(record_id=record_id)
        person = request_person(request)
        organisation = request_organisation(request)
        own = person is not None and record.person_id == person.pk
        held = (
            organisation is not None
            and record.organisation_id == organisation.pk
            and "consent:read" in request_scopes(request)
        )
        if not (own or held):
            raise NotFound("No such record.", detail={"record_id": record_id})
        return Response(
            {
                "record": RecordSerializer(record).data,
                "proof": RecordProofSerializer(selectors.record_with_proof(record=record)).data,
            }
        )


class RecordRevokeApi(APIView):
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
        person = _person_or_403(request)
        record = selectors.record_get(record_id=record_id)
        if record.person_id != person.pk:
            raise NotFound("No such record.", detail={"record_id": record_id})
        revocation = services.record_revoke(
            record=record, actor=_actor(request), **_signature_bytes(data.validated_data)
        )
        return Response(RecordSerializer(revocation).data, status=201)


# --- organisations: consent requests, checks, grants ---------------------------------------------


class ConsentRequestsApi(APIView):
    permission_classes = [HasScopes.require("consent:request")]

    class InputSerializer(serializers.Serializer):
        person = serializers.CharField(
            required=False, help_text="the person's public handle or public id (sub_...)"
        )
        email = serializers.EmailField(required=False, help_text="or invite them by email")
        purpose = serializers.CharField(max_length=2000)
        categories = serializers.ListField(
            child=serializers.CharField(), min_length=1, help_text=_CATEGORIES_HELP
        )
        media_types = serializers.ListField(
            child=serializers.CharField(), min_length=1, help_text=_MEDIA_HELP
        )
        territory = serializers.CharField(help_text='ISO 3166-1 alpha-2 or "worldwide"')
        valid_from = serializers.DateTimeField(required=False, allow_null=True)
        valid_until = serializers.DateTimeField(required=False, allow_null=True)
        project_ref = serializers.CharField(required=False, allow_blank=True, max_length=200)

        class Meta:
            ref_name = "ConsentRequestInput"

    class OutputSerializer(ConsentRequestSerializer):
        person = serializers.CharField(source="person.public_id", allow_null=True)

        class Meta:
            ref_name = "OrganisationConsentRequest"

    @extend_schema(
        operation_id="consent_requests",
        tags=["consent: organisations"],
        summary="My organisation's consent requests and their answers",
        responses={200: OutputSerializer(many=True)},
    )
    def get(self, request: Request) -> Response:
        requests = selectors.organisation_requests(organisation=_organisation_or_403(request))
        return _records_page(request, self, requests, self.OutputSerializer)

    @extend_schema(
        operation_id="consent_request_create",
        tags=["consent: organisations"],
        summary="Ask a person (by handle or email invitation) for consent to one described use",
        request=InputSerializer,
        responses={
            201: OutputSerializer,
            400: OpenApiResponse(ErrorSerializer),
            404: OpenApiResponse(ErrorSerializer),
        },
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        handle = values.pop("person", None)
        organisation = _organisation_or_403(request)
        person = selectors.person_find(person=handle) if handle else None
        created = services.consent_request_create(
            organisation=organisation,
            requested_by=_actor(request),
            person=person,
            **values,
        )
        output = self.OutputSerializer(created).data
        if created.person_id is not None and handle is None:
            # Invited by email: do not reveal whether the address belongs to someone registered.
            output["person"] = None
        return Response(output, status=201)


class ConsentRequestWithdrawApi(APIView):
    permission_classes = [HasScopes.require("consent:request")]

    @extend_schema(
        operation_id="consent_request_withdraw",
        tags=["consent: organisations"],
        summary="Withdraw a request that has not been answered",
        request=None,
        responses={200: ConsentRequestsApi.OutputSerializer, 404: OpenApiResponse(ErrorSerializer)},
    )
    def post(self, request: Request, request_id: str) -> Response:
        organisation = _organisation_or_403(request)
        found = selectors.organisation_requests(organisation=organisation).filter(
            request_id=request_id
        )
        consent_request = found.first()
        if consent_request is None:
            raise NotFound("No such consent request.")
        withdrawn = services.consent_request_withdraw(
            request=consent_request, organisation=organisation
        )
        return Response(ConsentRequestsApi.OutputSerializer(withdrawn).data)


class ConsentCheckApi(APIView):
    permission_classes = [HasScopes.require("consent:read")]

    class InputSerializer(serializers.Serializer):
        person = serializers.CharField(help_text="public handle or public id (sub_...)")
        category = serializers.CharField(help_text=_CATEGORIES_HELP)
        media_type = serializers.CharField(required=False, help_text=_MEDIA_HELP)
        territory = serializers.CharField(required=False, help_text="ISO 3166-1 alpha-2 code")
        date = serializers.DateTimeField(required=False, help_text="when the use happens; now")

        class Meta:
            ref_name = "ConsentCheckInput"

    class OutputSerializer(serializers.Serializer):
        check_id = serializers.CharField()
        result = serializers.ChoiceField(choices=ConsentCheck.Result.choices)
        decided_by = serializers.CharField(
            allow_null=True, help_text="record_id of the grant or opt-out that decides it"
        )
        grant = RecordSerializer(allow_null=True, help_text="the deciding grant, if any")
        receipt = serializers.JSONField(
            help_text="signed receipt with its log inclusion proof and signed tree head; "
            "verify offline with consent.lib.receipts and keys.json"
        )

        class Meta:
            ref_name = "ConsentCheckResult"

    @extend_schema(
        operation_id="consent_check",
        tags=["consent: organisations"],
        summary="Is this use of the person's likeness consented? With a signed, logged receipt",
        request=InputSerializer,
        responses={
            200: OutputSerializer,
            400: OpenApiResponse(ErrorSerializer),
            404: OpenApiResponse(ErrorSerializer),
        },
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        organisation = _organisation_or_403(request)
        person = selectors.person_find(person=values["person"])
        check, receipt = services.consent_check(
            organisation=organisation,
            person=person,
            category=values["category"],
            media_type=values.get("media_type"),
            territory=values.get("territory"),
            at=values.get("date"),
        )
        decided_by = check.decided_by
        grant = decided_by if decided_by and decided_by.kind == RecordKind.GRANT else None
        return Response(
            self.OutputSerializer(
                {
                    "check_id": check.check_id,
                    "result": check.result,
                    "decided_by": decided_by.record_id if decided_by else None,
                    "grant": grant,
                    "receipt": receipt,
                }
            ).data
        )


class OrganisationGrantsApi(APIView):
    permission_classes = [HasScopes.require("consent:read")]

    class OutputSerializer(RecordSerializer):
        person = serializers.CharField(source="person.public_id", allow_null=True)

        class Meta:
            ref_name = "HeldGrant"

    @extend_schema(
        operation_id="consent_grants_held",
        tags=["consent: organisations"],
        summary="Grants my organisation holds, newest first",
        responses={200: OutputSerializer(many=True)},
    )
    def get(self, request: Request) -> Response:
        grants = selectors.organisation_grants(organisation=_organisation_or_403(request))
        return _records_page(request, self, grants, self.OutputSerializer)


# --- webhooks -----------------------------------------------------------------------------------


class WebhookEndpointSerializer(serializers.Serializer):
    endpoint_id = serializers.CharField()
    url = serializers.URLField()
    description = serializers.CharField()
    created_at = serializers.DateTimeField()

    class Meta:
        ref_name = "WebhookEndpoint"


class WebhookDeliverySerializer(serializers.Serializer):
    delivery_id = serializers.CharField()
    event_id = serializers.CharField()
    event_type = serializers.CharField()
    status = serializers.CharField()
    attempts = serializers.IntegerField()
    last_status_code = serializers.IntegerField(allow_null=True)
    last_error = serializers.CharField()
    response_excerpt = serializers.CharField()
    next_attempt_at = serializers.DateTimeField(allow_null=True)
    last_attempt_at = serializers.DateTimeField(allow_null=True)
    delivered_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    payload = serializers.JSONField()

    class Meta:
        ref_name = "WebhookDelivery"


def _endpoint_of(request: Request, endpoint_id: str) -> WebhookEndpoint:
    organisation = _organisation_or_403(request)
    endpoint = (
        selectors.organisation_endpoints(organisation=organisation)
        .filter(endpoint_id=endpoint_id)
        .first()
    )
    if endpoint is None:
        raise NotFound("No such webhook endpoint.")
    return endpoint


class WebhookEndpointsApi(APIView):
    permission_classes = [HasScopes.require("webhooks:manage")]

    class InputSerializer(serializers.Serializer):
        url = serializers.CharField(max_length=500, help_text="an https:// URL")
        description = serializers.CharField(required=False, allow_blank=True, max_length=200)

        class Meta:
            ref_name = "WebhookEndpointInput"

    class CreatedSerializer(WebhookEndpointSerializer):
        secret = serializers.CharField(
            help_text="HMAC-SHA256 key for X-Registry-Signature; shown only in this answer"
        )

        class Meta:
            ref_name = "WebhookEndpointCreated"

    @extend_schema(
        operation_id="webhook_endpoints",
        tags=["webhooks"],
        summary="My organisation's active webhook endpoints",
        responses={200: WebhookEndpointSerializer(many=True)},
    )
    def get(self, request: Request) -> Response:
        endpoints = selectors.organisation_endpoints(organisation=_organisation_or_403(request))
        return Response(WebhookEndpointSerializer(endpoints, many=True).data)

    @extend_schema(
        operation_id="webhook_endpoint_create",
        tags=["webhooks"],
        summary="Register an HTTPS endpoint for grant.revoked, grant.expired, person.opted_out",
        request=InputSerializer,
        responses={201: CreatedSerializer, 400: OpenApiResponse(ErrorSerializer)},
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        endpoint, secret = services.webhook_endpoint_create(
            organisation=_organisation_or_403(request),
            url=data.validated_data["url"],
            description=data.validated_data.get("description", ""),
            created_by=_actor(request),
        )
        output = WebhookEndpointSerializer(endpoint).data
        output["secret"] = secret
        return Response(output, status=201)


class WebhookEndpointApi(APIView):
    permission_classes = [HasScopes.require("webhooks:manage")]

    @extend_schema(
        operation_id="webhook_endpoint_disable",
        tags=["webhooks"],
        summary="Stop sending events to this endpoint",
        responses={204: None, 404: OpenApiResponse(ErrorSerializer)},
    )
    def delete(self, request: Request, endpoint_id: str) -> Response:
        services.webhook_endpoint_disable(endpoint=_endpoint_of(request, endpoint_id))
        return Response(status=204)


class WebhookDeliveriesApi(APIView):
    permission_classes = [HasScopes.require("webhooks:manage")]

    @extend_schema(
        operation_id="webhook_deliveries",
        tags=["webhooks"],
        summary="Delivery log of one endpoint, newest first",
        responses={
            200: WebhookDeliverySerializer(many=True),
            404: OpenApiResponse(ErrorSerializer),
        },
    )
    def get(self, request: Request, endpoint_id: str) -> Response:
        deliveries = selectors.endpoint_deliveries(endpoint=_endpoint_of(request, endpoint_id))
        return _records_page(request, self, deliveries, WebhookDeliverySerializer)


class WebhookRedeliverApi(APIView):
    permission_classes = [HasScopes.require("webhooks:manage")]

    @extend_schema(
        operation_id="webhook_redeliver",
        tags=["webhooks"],
        summary="Send a delivery again now",
        request=None,
        responses={202: WebhookDeliverySerializer, 404: OpenApiResponse(ErrorSerializer)},
    )
    def post(self, request: Request, delivery_id: str) -> Response:
        organisation = _organisation_or_403(request)
        delivery = WebhookDelivery.objects.filter(
            delivery_id=delivery_id, endpoint__organisation=organisation
        ).first()
        if delivery is None:
            raise NotFound("No such delivery.")
        services.webhook_redeliver(delivery=delivery)
        delivery.refresh_from_db()
        return Response(WebhookDeliverySerializer(delivery).data, status=202)
