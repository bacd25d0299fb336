"""The site's own address, for links that leave the site (emails).

A link is built from the address the person reached the site on when there is a request, so a
registry served on another host or port than ``SITE_URL``'s default still sends links that work;
the host has already been checked against ``ALLOWED_HOSTS`` by then, so a forged ``Host`` header
cannot put someone else's address in an email. Without a request (Celery, management commands)
``SITE_URL`` is used.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def site_url(request: HttpRequest | None = None) -> str:
    """``scheme://host[:port]`` without a trailing slash."""
    if request is None:
        return settings.SITE_URL
    return request.build_absolute_uri("/").rstrip("/")
