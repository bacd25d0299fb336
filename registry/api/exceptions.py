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
        detail = _say_what_was_expected(exc.detail, _sent(context))
        message = _first_validation_message(detail) or message
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


# DRF's messages for a value of the wrong type ("Not a valid string.") say neither what was
# expected nor what came. Recognised by code and text, they become "expected a string, got a
# list", naming the type of what the client sent (looked up at the field's place in the body or
# query), never echoing large values or anything of the server's.
_WRONG_TYPE = {
    ("invalid", "Not a valid string."): "a string",
    ("invalid", "A valid integer is required."): "an integer",
    ("max_string_length", "String value too large."): "an integer of reasonable size",
    ("invalid", "A valid number is required."): "a number",
    ("invalid", "Must be a valid boolean."): "true or false",
    ("not_a_list", None): "a list",
    ("not_a_dict", None): "an object",
    ("invalid", "Invalid data. Expected a dictionary"): "a JSON object",
    ("invalid", "The submitted data was not a file."): "a file",
    ("invalid", "Datetime has wrong format."): "a date and time such as 2027-01-31T12:00:00Z",
}
_UNKNOWN = object()


def _sent(context: dict) -> Any:
    """What the client sent, for naming the type of a wrong value: the body, else the query."""
    request = context.get("request") if context else None
    if request is None:
        return _UNKNOWN
    try:
        data = request.data
    except Exception:  # noqa: BLE001 - the body could not be parsed: nothing to look up
        return _UNKNOWN
    if data is None or (isinstance(data, dict) and not data):
        return request.query_params
    return data


def kind_of(value: Any) -> str:
    """How an error message names the JSON type of what a client sent."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        # Short printable strings are named (query parameters are always strings, so "got a
        # string" alone would not help); long ones are not echoed.
        return f'the string "{value}"' if len(value) <= 20 and value.isprintable() else "a string"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    if hasattr(value, "read"):
        return "a file"
    return "a value of another type"


def _child(data: Any, key: Any) -> Any:
    if data is _UNKNOWN:
        return _UNKNOWN
    if hasattr(data, "getlist") and isinstance(key, str):  # QueryDict: one value per name
        values = data.getlist(key)
        return values[0] if len(values) == 1 else (values or _UNKNOWN)
    if isinstance(data, dict):
        return data.get(key, _UNKNOWN)
    if isinstance(data, list | tuple):
        try:
            return data[int(key)]
        except (ValueError, IndexError, TypeError):
            return _UNKNOWN
    return _UNKNOWN


def _wrong_type_message(error: Any, sent: Any) -> str | None:
    code, text = getattr(error, "code", None), str(error)
    for (known_code, known_text), expected in _WRONG_TYPE.items():
        if code == known_code and (known_text is None or text.startswith(known_text)):
            if sent is _UNKNOWN:
                return f"expected {expected}."
            return f"expected {expected}, got {kind_of(sent)}."
    if code == "invalid_choice" and sent is not _UNKNOWN and not isinstance(sent, str):
        return f"expected one of the allowed values (a string), got {kind_of(sent)}."
    return None


def _say_what_was_expected(detail: Any, sent: Any) -> Any:
    """DRF's validation detail with wrong-type messages that say what was expected and got."""
    if isinstance(detail, dict):
        return {
            key: _say_what_was_expected(
                value, sent if key == "non_field_errors" else _child(sent, key)
            )
            for key, value in detail.items()
        }
    if isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            return [_wrong_type_message(item, sent) or str(item) for item in detail]
        return [_say_what_was_expected(item, _child(sent, i)) for i, item in enumerate(detail)]
    return _wrong_type_message(detail, sent) or str(detail)


def _first_validation_message(detail: Any, path: str = "") -> str | None:
    """Turn DRF's nested validation errors into one readable sentence for ``message``."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            if key == "non_field_errors":
                prefix = path
            elif isinstance(key, int) or str(key).isdigit():
                prefix = f"{path}[{key}]"
            else:
                prefix = f"{path}.{key}" if path else key
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
