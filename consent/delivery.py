"""Signed deliveries to organisations' endpoints: one signature, one client, one retry policy.

Webhook events (``consent.services.webhooks``) and video-check callbacks (``matching``) are both
delivered by ``signed_post``: the body is signed with HMAC-SHA256 (``webhook_signature``) and
sent through ``registry.lib.outbound``, the one client for user-supplied URLs (internal addresses
refused at connect time, redirects never followed, bounded time and size). What a delivery keeps
of an attempt is the status code or a short error class, never the receiver's answer.

Retries follow one policy for both: ``WEBHOOK_MAX_ATTEMPTS`` attempts in all, waiting
``webhook_backoff_seconds`` between them; an answer that says "never" (a 4xx other than 408 and
429) ends the retries early, since the same request will be refused the same way.

Plain HTTP to a loopback address is allowed only with ``WEBHOOKS_ALLOW_INSECURE_LOCALHOST``
(local development and tests), which the settings refuse in production.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

from django.conf import settings

from registry.lib import outbound
from registry.lib.outbound import OutboundResponse

WEBHOOK_MAX_ATTEMPTS = 8
WEBHOOK_BACKOFF_BASE_SECONDS = 30
# Seven doublings from 30 s stay under an hour; the cap keeps a changed base from running away.
WEBHOOK_BACKOFF_MAX_SECONDS = 3600
WEBHOOK_SIGNATURE_HEADER = "X-Registry-Signature"
# Statuses that ask for a later try; any other 4xx is the receiver's final refusal.
RETRYABLE_CLIENT_ERRORS = frozenset({408, 429})


def insecure_localhost_allowed() -> bool:
    return bool(getattr(settings, "WEBHOOKS_ALLOW_INSECURE_LOCALHOST", False))


def delivery_url_check(url: str) -> str:
    """Refuse, with a message for the person who typed it, a URL deliveries could not use."""
    return outbound.check_url(url, allow_insecure_localhost=insecure_localhost_allowed())


def webhook_signature(*, secret: str, timestamp: int, body: bytes) -> str:
    """``t=<ts>,v1=<hex HMAC-SHA256(secret, "<ts>.<body>")>``; receivers recompute and compare."""
    digest = hmac.new(
        secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    return f"t={timestamp},v1={digest}"


def webhook_backoff_seconds(attempts: int) -> int:
    """The wait after ``attempts`` failed attempts: 30 s, 1 min, 2 min, ... at most an hour.

    The first delay is ``settings.WEBHOOK_RETRY_BASE_SECONDS`` (30 s by default).
    """
    base = getattr(settings, "WEBHOOK_RETRY_BASE_SECONDS", WEBHOOK_BACKOFF_BASE_SECONDS)
    return min(base * 2 ** max(attempts - 1, 0), WEBHOOK_BACKOFF_MAX_SECONDS)


def retry_after_seconds(*, response: OutboundResponse, attempts: int) -> int | None:
    """Seconds until the next attempt after ``attempts`` attempts, or None when there is none:
    delivered, refused for good, or out of attempts."""
    status = response.status
    if response.ok or attempts >= WEBHOOK_MAX_ATTEMPTS:
        return None
    if status is not None and 400 <= status < 500 and status not in RETRYABLE_CLIENT_ERRORS:
        return None
    return webhook_backoff_seconds(attempts)


def signed_post(
    url: str, *, body: bytes, secret: str, headers: Mapping[str, str]
) -> OutboundResponse:
    """One signed POST of ``body`` (JSON) to ``url``; never raises for network trouble."""
    signature = webhook_signature(secret=secret, timestamp=int(time.time()), body=body)
    return outbound.post(
        url,
        body=body,
        headers={
            "Content-Type": "application/json",
            **headers,
            WEBHOOK_SIGNATURE_HEADER: signature,
        },
        allow_insecure_localhost=insecure_localhost_allowed(),
    )
