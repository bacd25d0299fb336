"""An organisation's webhooks API: its endpoints, their delivery log, and redelivery.

Needs the webhooks:manage scope; every lookup is confined to the calling organisation, and
anything outside it is answered as not found.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from consent import selectors, services
from consent.api.callers import acting_user, organisation_or_403
from consent.api.serializers import paginated_response
from consent.models import WebhookDelivery, WebhookEndpoint
from registry.api.base import ApiView
from registry.api.exceptions import ErrorSerializer
from registry.api.pagination import Pagination
from registry.lib.errors import NotFound
from registry.permissions import HasScopes


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
    next_attempt_at = serializers.DateTimeField(allow_null=True)
    last_attempt_at = serializers.DateTimeField(allow_null=True)
    delivered_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    payload = serializers.JSONField()

    class Meta:
        ref_name = "WebhookDelivery"


def _endpoint_of(request: Request, endpoint_id: str) -> WebhookEndpoint:
    organisation = organisation_or_403(request)
    endpoint = (
        selectors.organisation_endpoints(organisation=organisation)
        .filter(endpoint_id=endpoint_id)
        .first()
    )
    if endpoint is None:
        raise NotFound("No such webhook endpoint.")
    return endpoint


class WebhookEndpointsApi(ApiView):
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
        endpoints = selectors.organisation_endpoints(organisation=organisation_or_403(request))
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
            organisation=organisation_or_403(request),
            url=data.validated_data["url"],
            description=data.validated_data.get("description", ""),
            created_by=acting_user(request),
        )
        output = WebhookEndpointSerializer(endpoint).data
        output["secret"] = secret
        return Response(output, status=201)


class WebhookEndpointApi(ApiView):
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


class WebhookDeliveriesApi(ApiView):
    permission_classes = [HasScopes.require("webhooks:manage")]
    pagination_class = Pagination

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
        return paginated_response(request, self, deliveries, WebhookDeliverySerializer)


class WebhookRedeliverApi(ApiView):
    permission_classes = [HasScopes.require("webhooks:manage")]

    @extend_schema(
        operation_id="webhook_redeliver",
        tags=["webhooks"],
        summary="Send a delivery again now",
        request=None,
        responses={202: WebhookDeliverySerializer, 404: OpenApiResponse(ErrorSerializer)},
    )
    def post(self, request: Request, delivery_id: str) -> Response:
        organisation = organisation_or_403(request)
        delivery = WebhookDelivery.objects.filter(
            delivery_id=delivery_id, endpoint__organisation=organisation
        ).first()
        if delivery is None:
            raise NotFound("No such delivery.")
        services.webhook_redeliver(delivery=delivery)
        delivery.refresh_from_db()
        return Response(WebhookDeliverySerializer(delivery).data, status=202)
