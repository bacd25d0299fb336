"""Errors raised while reading or analysing a video.

Like the image errors in ``matching.engine.errors`` they subclass the project's shared error types,
so the API renders them as ``{"error": {"code", "message", "detail"}}`` with a 4xx status, and
the check runner stores their message for the person who sent the video. No Django import.
"""

from __future__ import annotations

from registry.lib.errors import PayloadTooLarge, UnsupportedMediaType, ValidationFailed


class VideoError(ValidationFailed):
    """Base class for every problem with a submitted video (catch this to catch them all)."""

    code = "invalid_video"
    default_message = "The video could not be read."


class NotAVideo(VideoError, UnsupportedMediaType):
    """The bytes are not a video container we read (an image, text, a PDF, a playlist...)."""

    status_code = 415
    code = "not_a_video"
    default_message = "The file is not a video we can read."


class CorruptVideo(VideoError):
    """The file starts like a video but cannot be decoded to the end (truncated or damaged)."""

    status_code = 400
    code = "corrupt_video"
    default_message = "The video is truncated or corrupt."


class VideoTooLong(VideoError, PayloadTooLarge):
    status_code = 413
    code = "video_too_long"
    default_message = "The video is too long."


class VideoTooLarge(VideoError, PayloadTooLarge):
    """Too many bytes, or frames with too many pixels to decode safely."""

    status_code = 413
    code = "video_too_large"
    default_message = "The video file is too large."


class AnalysisCancelled(Exception):
    """``should_cancel()`` answered true between two samples; nothing was analysed further."""


__all__ = [
    "AnalysisCancelled",
    "CorruptVideo",
    "NotAVideo",
    "VideoError",
    "VideoTooLarge",
    "VideoTooLong",
]
