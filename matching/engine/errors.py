"""Errors raised while reading an image or analysing faces.

They subclass the project's shared error types so the API's exception handler renders them as
``{"error": {"code", "message", "detail"}}`` with the right HTTP status, and they carry no Django
import so the image and engine code stays usable (and testable) on its own.
"""

from __future__ import annotations

from registry.lib.errors import (
    PayloadTooLarge,
    RegistryError,
    UnsupportedMediaType,
    ValidationFailed,
)


class ImageError(ValidationFailed):
    """Base class for every problem with an uploaded image (catch this to catch them all)."""

    code = "invalid_image"
    default_message = "The image could not be read."


class NotAnImage(ImageError, UnsupportedMediaType):
    """The bytes are not an image at all (text, PDF, video, ...)."""

    status_code = 415
    code = "not_an_image"
    default_message = "The file is not an image."


class UnsupportedImageFormat(ImageError, UnsupportedMediaType):
    """An image, but in a format the registry does not accept (GIF, TIFF, HEIC, ...)."""

    status_code = 415
    code = "unsupported_image_format"
    default_message = "This image format is not supported; send a JPEG, PNG or WebP image."


class CorruptImage(ImageError):
    """The header looked like an image but the data is truncated or damaged."""

    status_code = 400
    code = "corrupt_image"
    default_message = "The image is truncated or corrupt."


class ImageTooLarge(ImageError, PayloadTooLarge):
    """Too many pixels to decode safely (a large photo or a decompression bomb)."""

    status_code = 413
    code = "image_too_large"
    default_message = "The image has too many pixels."


class FaceEngineUnavailable(RegistryError):
    """The face models cannot be loaded (files missing or unreadable): an operator problem."""

    status_code = 503
    code = "face_engine_unavailable"
    default_message = "Face analysis is not available right now."


__all__ = [
    "CorruptImage",
    "FaceEngineUnavailable",
    "ImageError",
    "ImageTooLarge",
    "NotAnImage",
    "UnsupportedImageFormat",
]
