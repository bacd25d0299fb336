"""An organisation's consent API: consent requests to people, consent checks, grants held.

Organisations act with an API key, or a member's session naming the organisation in the
X-Organisation header. Views validate, call one service and serialize.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from consent import selectors, services
from consent.api.callers import acting_user, organisation_or_403
from consent.api.serializers import (
    CATEGORIES_HELP,
    MEDIA_HELP,
    ConsentRequestSerializer,
    RecordSerializer,
    paginated_response,
)
from consent.models import ConsentCheck, RecordKind
from consent.selectors.decisions import (
    REASON_ASSURANCE_TOO_LOW,
    REASON_ORGANISATION_UNVERIFIED,
    REASON_REGISTRATION_DISPUTED,
)
from registry.api.base import ApiView
from registry.api.exceptions import ErrorSerializer
from registry.api.pagination import Pagination
from registry.lib.errors import NotFound
from registry.models import AssuranceLevel
from registry.permissions import HasScopes
from registry.site import site_url


class ConsentRequestsApi(ApiView):
    permission_classes = [HasScopes.require("consent:request")]
    pagination_class = Pagination

    class InputSerializer(serializers.Serializer):
        person = serializers.CharField(
            required=False, help_text="the person's public handle or public id (sub_...)"
        )
        email = serializers.EmailField(required=False, help_text="or invite them by email")
        purpose = serializers.CharField(max_length=2000)
        categories = serializers.ListField(
            child=serializers.CharField(), min_length=1, help_text=CATEGORIES_HELP
        )
        media_types = serializers.ListField(
            child=serializers.CharField(), min_length=1, help_text=MEDIA_HELP
        )
        territory = serializers.CharField(help_text='ISO 3166-1 alpha-2 or "worldwide"')
        valid_from = serializers.DateTimeField(required=False, allow_null=True)
        valid_until = serializers.DateTimeField(required=False, allow_null=True)
        project_ref = serializers.CharField(required=False, allow_blank=True, max_length=200)

        class Meta:
            ref_name = "ConsentRequestInput"

    class OutputSerializer(ConsentRequestSerializer):
        person = serializers.CharField(
            source="person.public_id",
            allow_null=True,
            help_text="public id (sub_...) of the person asked by handle; for an email "
            "invitation null until the person approves (a decline does not name them), so the "
            "answer never tells whether the address is registered",
        )

        class Meta:
            ref_name = "OrganisationConsentRequest"

    @extend_schema(
        operation_id="consent_requests",
        tags=["consent: organisations"],
        summary="My organisation's consent requests and their answers",
        responses={200: OutputSerializer(many=True)},
    )
    def get(self, request: Request) -> Response:
        requests = selectors.organisation_requests(organisation=organisation_or_403(request))
        return paginated_response(request, self, requests, self.OutputSerializer)

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
        organisation = organisation_or_403(request)
        person = selectors.person_find(person=handle) if handle else None
        created = services.consent_request_create(
            organisation=organisation,
            requested_by=acting_user(request),
            person=person,
            site_url=site_url(request),
            **values,
        )
        return Response(self.OutputSerializer(created).data, status=201)


class ConsentRequestWithdrawApi(ApiView):
    permission_classes = [HasScopes.require("consent:request")]

    @extend_schema(
        operation_id="consent_request_withdraw",
        tags=["consent: organisations"],
        summary="Withdraw a request that has not been answered",
        request=None,
        responses={200: ConsentRequestsApi.OutputSerializer, 404: OpenApiResponse(ErrorSerializer)},
    )
    def post(self, request: Request, request_id: str) -> Response:
        organisation = organisation_or_403(request)
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


class ConsentCheckApi(ApiView):
    permission_classes = [HasScopes.require("consent:read")]

    class InputSerializer(serializers.Serializer):
        person = serializers.CharField(help_text="public handle or public id (sub_...)")
        category = serializers.CharField(help_text=CATEGORIES_HELP)
        media_type = serializers.CharField(required=False, help_text=MEDIA_HELP)
        territory = serializers.CharField(required=False, help_text="ISO 3166-1 alpha-2 code")
        date = serializers.DateTimeField(required=False, help_text="when the use happens; now")
        min_assurance = serializers.ChoiceField(
            choices=AssuranceLevel.choices,
            required=False,
            help_text="the lowest assurance a granting person may have (never below liveness)",
        )

        class Meta:
            ref_name = "ConsentCheckInput"

    class OutputSerializer(serializers.Serializer):
        check_id = serializers.CharField()
        result = serializers.ChoiceField(choices=ConsentCheck.Result.choices)
        decided_by = serializers.CharField(
            allow_null=True, help_text="record_id of the grant or opt-out that decides it"
        )
        grant = RecordSerializer(allow_null=True, help_text="the deciding grant, if any")
        reason = serializers.ChoiceField(
            choices=[
                REASON_ORGANISATION_UNVERIFIED,
                REASON_ASSURANCE_TOO_LOW,
                REASON_REGISTRATION_DISPUTED,
            ],
            allow_null=True,
            help_text=(
                "why a valid grant did not consent: this organisation is not verified yet, "
                "the person's assurance is too low, or the person's registration is disputed "
                "(another registration holds the same face, an operator has not decided yet); "
                "null otherwise"
            ),
        )
        assurance = serializers.ChoiceField(
            choices=AssuranceLevel.choices,
            help_text="how well the registry knows who the person is (self_asserted lowest)",
        )
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
        organisation = organisation_or_403(request)
        person = selectors.person_find(person=values["person"])
        check, receipt = services.consent_check(
            organisation=organisation,
            person=person,
            category=values["category"],
            media_type=values.get("media_type"),
            territory=values.get("territory"),
            at=values.get("date"),
            min_assurance=values.get("min_assurance"),
        )
        decided_by = check.decided_by
        grant = decided_by if decided_by and decided_by.kind == RecordKind.GRANT else None
        return Response(
            self.OutputSerializer(
                {
                    "check_id": check.check_id,
                    "result": check.result,
                    "assurance": check.assurance,
                    "decided_by": decided_by.record_id if decided_by else None,
                    "grant": grant,
                    "reason": receipt["envelope"]["payload"].get("reason"),
                    "receipt": receipt,
                }
            ).data
        )


class OrganisationGrantsApi(ApiView):
    permission_classes = [HasScopes.require("consent:read")]
    pagination_class = Pagination

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
        grants = selectors.organisation_grants(organisation=organisation_or_403(request))
        return paginated_response(request, self, grants, self.OutputSerializer)
