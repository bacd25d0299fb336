"""Every API error is rendered as {"error": {"code", "message", "detail"}} with a 4xx status."""

from __future__ import annotations

import pytest
from django.urls import path
from rest_framework import serializers
from rest_framework.exceptions import Throttled
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from registry.lib.errors import Conflict


class EchoApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []

    class InputSerializer(serializers.Serializer):
        count = serializers.IntegerField(min_value=1)

    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if data.validated_data["count"] == 7:
            raise Conflict("Seven is taken.", detail={"count": 7})
        return Response({"count": data.validated_data["count"]})


class ThrottledApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []

    def get(self, request):
        raise Throttled(wait=float(request.query_params["wait"]))


class PrivateApi(APIView):
    def get(self, request):
        return Response({})


urlpatterns = [
    path("api/v1/echo", EchoApi.as_view()),
    path("api/v1/private", PrivateApi.as_view()),
    path("api/v1/throttled", ThrottledApi.as_view()),
]


@pytest.fixture(autouse=True)
def _urls(settings):
    settings.ROOT_URLCONF = __name__


def test_malformed_json_is_a_400_with_a_readable_message(client):
    response = client.post("/api/v1/echo", data="{not json", content_type="application/json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "malformed_request"
    assert "JSON" in error["message"]


def test_validation_errors_name_the_field(client):
    response = client.post("/api/v1/echo", data={"count": 0}, content_type="application/json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert error["message"].startswith("count: ")
    assert "count" in error["detail"]


def test_the_projects_own_errors_keep_their_status_and_detail(client):
    response = client.post("/api/v1/echo", data={"count": 7}, content_type="application/json")
    assert response.status_code == 409
    assert response.json() == {
        "error": {"code": "conflict", "message": "Seven is taken.", "detail": {"count": 7}}
    }


def test_anonymous_callers_get_401_not_403(client):
    response = client.get("/api/v1/private")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_wrong_method_is_405_in_the_same_shape(client):
    response = client.delete("/api/v1/echo")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


@pytest.mark.parametrize(("wait", "retry_after"), [(60, 60), (59.2, 60), (0.2, 1)])
def test_retry_after_is_the_wait_rounded_up_to_whole_seconds(client, wait, retry_after):
    response = client.get(f"/api/v1/throttled?wait={wait}")
    assert response.status_code == 429
    assert response["Retry-After"] == str(retry_after)
    assert response.json()["error"]["detail"] == {"retry_after_seconds": retry_after}
