"""One uploaded file, image or video, turned into a check: what the API and the web form share.

The file's first bytes say what it is (never its name or declared type): an image is checked at
once (``image_check``), a video becomes a job (``video_check_create``). Size limits are enforced
here so both entry points refuse the same files with the same messages.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile

from matching.lib.imaging import describe_content, sniff_image_type
from matching.models import CheckSource
from matching.services.checks import check_representation, image_check
from matching.services.video import video_check_create
from matching.video.reader import sniff_container
from registry.lib.errors import PayloadTooLarge, UnsupportedMediaType, ValidationFailed
from registry.lib.sizes import megabytes
from registry.models import ApiKey, Organisation, User


def media_check_submit(
    *,
    upload: UploadedFile,
    category: str,
    organisation: Organisation,
    api_key: ApiKey | None,
    submitted_by: User | None = None,
    source: str = CheckSource.API,
    callback_url: str = "",
    callback_secret: str = "",
) -> tuple[dict[str, Any], int]:
    """Check an uploaded image (200, the result) or queue a video (202, the job to poll)."""
    head = upload.read(64)
    upload.seek(0)
    if not head:
        raise ValidationFailed("The file is empty.", code="empty_file")
    if sniff_image_type(head) is not None:
        if upload.size > settings.MAX_IMAGE_BYTES:
            raise PayloadTooLarge(
                f"Images are limited to {megabytes(settings.MAX_IMAGE_BYTES)}; this one is "
                f"{megabytes(upload.size)}.",
                code="image_too_large",
                detail={"size": upload.size, "max_bytes": settings.MAX_IMAGE_BYTES},
            )
        body = image_check(
            data=upload.read(),
            category=category,
            organisation=organisation,
            api_key=api_key,
            submitted_by=submitted_by,
            source=source,
        )
        return body, 200
    container = sniff_container(head)
    if container is None:
        detected = describe_content(head)
        raise UnsupportedMediaType(
            f"Send a JPEG, PNG or WebP image or an MP4, MOV, WebM/MKV or AVI video "
            f"(detected: {detected}).",
            detail={"detected": detected},
        )
    if upload.size > settings.MAX_VIDEO_BYTES:
        raise PayloadTooLarge(
            f"Videos are limited to {megabytes(settings.MAX_VIDEO_BYTES)}; this one is "
            f"{megabytes(upload.size)}.",
            code="video_too_large",
            detail={"size": upload.size, "max_bytes": settings.MAX_VIDEO_BYTES},
        )
    check = video_check_create(
        organisation=organisation,
        api_key=api_key,
        category=category,
        upload=upload,
        container=container,
        callback_url=callback_url,
        callback_secret=callback_secret,
        submitted_by=submitted_by,
        source=source,
    )
    check.refresh_from_db()
    return check_representation(check), 202
