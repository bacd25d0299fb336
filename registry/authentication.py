"""Bearer authentication with API keys and personal tokens.

``Authorization: Bearer lr_<prefix>_<secret>``: the prefix finds the row, the secret's SHA-256 is
compared in constant time. Unknown, malformed, revoked or expired keys are a 401 with a message
that says which (none of which reveals anything a caller could not already know).

Nothing is cached: every request reads its key (and the key's organisation) afresh, so a
revocation, an expiry or a suspension refuses the very next request. That read is one plain SQL
statement rather than an ORM query, because it runs on every API call: compiling the ORM's
three-table ``select_related`` cost several times more CPU than running it.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

from django.db import connection
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from registry.db import model_from_row
from registry.models import ApiKey, Organisation

KEY_PREFIX = "lr"
# last_used_at is refreshed at most this often, so a busy key costs no write per request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def parse_key(raw: str) -> tuple[str, str] | None:
    """``(prefix, secret)`` of a well-formed key, else None."""
    parts = raw.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def hash_secret(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


_KEY_FIELDS = ApiKey._meta.concrete_fields
_ORGANISATION_FIELDS = Organisation._meta.concrete_fields
_KEY_COLUMNS = ", ".join(
    [f"k.{f.column}" for f in _KEY_FIELDS] + [f"o.{f.column}" for f in _ORGANISATION_FIELDS]
)
_KEY_SQL = f"""
    SELECT {_KEY_COLUMNS}
    FROM {ApiKey._meta.db_table} k
    LEFT JOIN {Organisation._meta.db_table} o ON o.id = k.organisation_id
    WHERE k.prefix = %s
"""  # noqa: S608 - our own table and column names; the prefix is a parameter


def key_by_prefix(prefix: str) -> ApiKey | None:
    """The key with ``prefix`` and, for an organisation key, its organisation: one statement.

    A personal token's user is loaded when first used (``key.user``), by the ORM as usual.
    """
    with connection.cursor() as cursor:
        cursor.execute(_KEY_SQL, [prefix])
        row = cursor.fetchone()
    if row is None:
        return None
    key = model_from_row(ApiKey, _KEY_FIELDS, row[: len(_KEY_FIELDS)])
    if key.organisation_id is not None:
        key.organisation = model_from_row(
            Organisation, _ORGANISATION_FIELDS, row[len(_KEY_FIELDS) :]
        )
    return key


class ApiKeyAuthentication(BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(
                "Malformed Authorization header: expected 'Bearer <key>'."
            )
        try:
            raw = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("The API key is not valid.") from None
        return self.authenticate_key(raw)

    def authenticate_key(self, raw: str):
        parsed = parse_key(raw)
        if parsed is None:
            raise exceptions.AuthenticationFailed("The API key is not valid.")
        prefix, secret = parsed
        key = key_by_prefix(prefix)
        # Compare even when no row exists, so timing does not reveal which prefixes exist.
        expected = bytes(key.secret_hash) if key is not None else b"\x00" * 32
        if not hmac.compare_digest(expected, hash_secret(secret)) or key is None:
            raise exceptions.AuthenticationFailed("The API key is not valid.")
        now = timezone.now()
        if key.revoked_at is not None:
            raise exceptions.AuthenticationFailed("This API key has been revoked.")
        if key.expires_at is not None and key.expires_at <= now:
            raise exceptions.AuthenticationFailed("This API key has expired.")
        if key.organisation_id is not None:
            if key.organisation.suspended_at is not None:
                raise exceptions.AuthenticationFailed("This organisation is suspended.")
            user = _OrganisationPrincipal(key)
        else:
            user = key.user
            if not user.is_active:
                raise exceptions.AuthenticationFailed("This account is not active.")
            person = getattr(user, "person", None)
            if person is not None and person.suspended_at is not None:
                raise exceptions.AuthenticationFailed("This account is suspended.")
        if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
            ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
            key.last_used_at = now
        return user, key

    def authenticate_header(self, request) -> str:
        return f'{self.keyword} realm="api"'


class _OrganisationPrincipal:
    """``request.user`` for an organisation API key: authenticated, but no person's account."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None
    id = None

    def __init__(self, key: ApiKey) -> None:
        self.api_key = key
        self.organisation = key.organisation

    def __str__(self) -> str:
        return f"api key {self.api_key.prefix}"

    def has_perm(self, perm, obj=None) -> bool:
        return False


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    """Describes ``Authorization: Bearer <key>`` in the OpenAPI schema."""

    target_class = "registry.authentication.ApiKeyAuthentication"
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "lr_<prefix>_<secret>",
            "description": "An organisation API key or a personal token.",
        }
