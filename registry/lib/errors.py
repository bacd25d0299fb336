"""The project's own error type.

Every error a caller can cause is raised as a ``RegistryError`` (or a subclass) carrying a
stable machine-readable ``code``, a ``message`` a person understands, optional structured
``detail`` and the HTTP status the API answers with. The DRF exception handler in
``registry.api.exceptions`` renders it once as ``{"error": {"code", "message", "detail"}}``.
This module has no Django import so that pure code (image decoding, Merkle maths) can use it.
"""

from __future__ import annotations

from typing import Any


class RegistryError(Exception):
    status_code = 400
    code = "bad_request"
    default_message = "The request could not be processed."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        detail: Any = None,
        status_code: int | None = None,
    ) -> None:
        self.message = message or self.default_message
        if code is not None:
            self.code = code
        if status_code is not None:
            self.status_code = status_code
        self.detail = detail
        super().__init__(self.message)

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "detail": self.detail}


class ValidationFailed(RegistryError):
    status_code = 400
    code = "invalid"
    default_message = "Some of the data sent is not valid."


class NotFound(RegistryError):
    status_code = 404
    code = "not_found"
    default_message = "Not found."


class PermissionDeniedError(RegistryError):
    status_code = 403
    code = "permission_denied"
    default_message = "You do not have permission to do this."


class Conflict(RegistryError):
    status_code = 409
    code = "conflict"
    default_message = "The request conflicts with the current state."


class PayloadTooLarge(RegistryError):
    status_code = 413
    code = "too_large"
    default_message = "The upload is too large."


class UnsupportedMediaType(RegistryError):
    status_code = 415
    code = "unsupported_media_type"
    default_message = "This file type is not supported."
