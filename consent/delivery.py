"""Signed HTTP deliveries to organisations' endpoints: the signature, the POST, the retry policy.

Webhook events (``consent.services``) and video-check callbacks (``matching``) are both signed
with ``webhook_signature`` and posted through ``http_post``, which never follows a redirect.
"""

from __future__ import annotations

import hashlib
import hmac
import urllib.error
import urllib.request
from collections.abc import Mapping

from django.conf import settings

WEBHOOK_MAX_ATTEMPTS = 8
WEBHOOK_BACKOFF_BASE_SECONDS = 30
WEBHOOK_BACKOFF_MAX_SECONDS = 6 * 3600
WEBHOOK_TIMEOUT_SECONDS = 10
WEBHOOK_SIGNATURE_HEADER = "X-Registry-Signature"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


def webhook_signature(*, secret: str, timestamp: int, body: bytes) -> str:
    """``t=<ts>,v1=<hex HMAC-SHA256(secret, "<ts>.<body>")>``; receivers recompute and compare."""
    digest = hmac.new(
        secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    return f"t={timestamp},v1={digest}"


def webhook_backoff_seconds(attempts: int) -> int:
    """30 s, 1 min, 2 min, ... doubling after each failed attempt, at most 6 hours.

    The first delay is ``settings.WEBHOOK_RETRY_BASE_SECONDS`` (30 s by default).
    """
    base = getattr(settings, "WEBHOOK_RETRY_BASE_SECONDS", WEBHOOK_BACKOFF_BASE_SECONDS)
    return min(base * 2 ** max(attempts - 1, 0), WEBHOOK_BACKOFF_MAX_SECONDS)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # a redirect is an answer (3xx), never followed to another host


_opener = urllib.request.build_opener(_NoRedirects)


def http_post(url: str, body: bytes, headers: Mapping[str, str]) -> tuple[int | None, str, str]:
    """POST and return ``(status, response excerpt, error)``."""
    request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")  # noqa: S310 (URL checked at registration)
    try:
        with _opener.open(request, timeout=WEBHOOK_TIMEOUT_SECONDS) as response:
            return response.status, response.read(500).decode("utf-8", "replace"), ""
    except urllib.error.HTTPError as error:
        excerpt = error.read(500).decode("utf-8", "replace") if error.fp else ""
        return error.code, excerpt, ""
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        return None, "", f"{type(error).__name__}: {reason}"[:300]
