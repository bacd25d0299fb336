"""One exception handler for the whole API.

Every error leaves as ``{"error": {"code": ..., "message": ..., "detail": ...}}`` with the right
status: the project's own ``RegistryError`` types, DRF's exceptions (validation, parse errors,
authentication, throttling) and Django's (404, permission denied, oversized request). Anything
else is a bug: it is logged with its traceback and answered with a plain 500 that reveals nothing.
``ErrorSerializer`` describes that body in the OpenAPI schema, for every app's error responses.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.http import Http404, JsonResponse
from rest_framework import exceptions as drf
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import set_rollback

from registry.lib.errors import RegistryError

logger = logging.getLogger(__name__)

_DRF_MESSAGES = {
    drf.ParseError: ("malformed_request", "The request body could not be parsed."),
    drf.NotAuthenticated: ("not_authenticated", "Authentication credentials were not provided."),
    drf.AuthenticationFailed: ("authentication_failed", "The credentials are not valid."),
    drf.PermissionDenied: ("permission_denied", "You do not have permission to do this."),
    drf.NotFound: ("not_found", "Not found."),
    drf.MethodNotAllowed: ("method_not_allowed", "This method is not allowed here."),
    drf.NotAcceptable: ("not_acceptable", "The requested response format is not available."),
    drf.UnsupportedMediaType: ("unsupported_media_type", "This content type is not supported."),
    drf.Throttled: ("rate_limited", "Too many requests."),
    drf.ValidationError: ("invalid", "Some of the data sent is not valid."),
}


def error_body(code: str, message: str, detail: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "detail": detail}}


# The body ``error_body`` builds, for the API docs only: views raise, they never serialize
# errors. A comment, not a docstring, which drf-spectacular would publish as its description.
class ErrorSerializer(serializers.Serializer):
    class Body(serializers.Serializer):
        code = serializers.CharField()
        message = serializers.CharField()
        detail = serializers.JSONField(allow_null=True)

        class Meta:
            ref_name = "ErrorBody"

    error = Body()

    class Meta:
        ref_name = "Error"


def exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, RegistryError):
        set_rollback()
        return Response(error_body(exc.code, exc.message, exc.detail), status=exc.status_code)

    if isinstance(exc, Http404):
        exc = drf.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = drf.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):
        set_rollback()
        return Response(
            error_body("too_large", "The request body is larger than this endpoint accepts."),
            status=413,
        )
    elif isinstance(exc, SuspiciousOperation):
        set_rollback()
        return Response(error_body("bad_request", "The request was rejected."), status=400)

    if not isinstance(exc, drf.APIException):
        return None  # a real bug: Django logs it and answers 500 (see server_error below)

    set_rollback()
    code, message = _DRF_MESSAGES.get(type(exc), (None, None))
    if code is None:
        for exc_type, (known_code, known_message) in _DRF_MESSAGES.items():
            if isinstance(exc, exc_type):
                code, message = known_code, known_message
                break
        else:
            code, message = exc.default_code, str(exc.default_detail)

    detail: Any = exc.detail
    if isinstance(exc, drf.ValidationError):
        message = _first_validation_message(exc.detail) or message
    elif isinstance(detail, str) or hasattr(detail, "code"):
        # DRF's own messages are already human ("Malformed JSON: ..."): use them as the message.
        message = str(detail)
        detail = None

    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None) is not None:
        # Whole seconds, rounded up so a client that waits this long is never early.
        retry_after = max(1, math.ceil(exc.wait))
        headers["Retry-After"] = str(retry_after)
        detail = {"retry_after_seconds": retry_after}
    return Response(error_body(code, message, detail), status=exc.status_code, headers=headers)


def _first_validation_message(detail: Any, path: str = "") -> str | None:
    """Turn DRF's nested validation errors into one readable sentence for ``message``."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            prefix = path if key == "non_field_errors" else (f"{path}.{key}" if path else key)
            found = _first_validation_message(value, prefix)
            if found:
                return found
        return None
    if isinstance(detail, list):
        for index, value in enumerate(detail):
            nested = isinstance(value, dict | list)
            found = _first_validation_message(value, f"{path}[{index}]" if nested else path)
            if found:
                return found
        return None
    text = str(detail)
    return f"{path}: {text}" if path else text


def not_found(request, exception=None) -> JsonResponse:
    return JsonResponse(error_body("not_found", "Not found."), status=404)


def bad_request(request, exception=None) -> JsonResponse:
    return JsonResponse(error_body("bad_request", "The request was rejected."), status=400)


def permission_denied(request, exception=None) -> JsonResponse:
    return JsonResponse(
        error_body("permission_denied", "You do not have permission to do this."), status=403
    )


def server_error(request) -> JsonResponse:
    return JsonResponse(
        error_body("server_error", "Something went wrong on our side; it has been logged."),
        status=500,
    )
