"""Reading settings from the environment, loudly.

A misspelt boolean or a non-numeric limit must stop the process at start-up with a message
naming the variable, not silently fall back to a default.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping


class EnvError(ValueError):
    """A variable is present but its value cannot be used."""


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class Env:
    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.environ = os.environ if environ is None else environ

    def _raw(self, name: str) -> str | None:
        value = self.environ.get(name)
        if value is None or value.strip() == "":
            return None
        return value.strip()

    def str(self, name: str, default: str | None = None, *, required: bool = False) -> str | None:
        value = self._raw(name)
        if value is None:
            if required:
                raise EnvError(f"{name} must be set")
            return default
        return value

    def bool(self, name: str, default: bool) -> bool:
        value = self._raw(name)
        if value is None:
            return default
        lowered = value.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise EnvError(f"{name}={value!r} is not a boolean (use true/false, 1/0, yes/no)")

    def int(self, name: str, default: int, *, minimum: int | None = None) -> int:
        value = self._raw(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            raise EnvError(f"{name}={value!r} is not an integer") from None
        if minimum is not None and number < minimum:
            raise EnvError(f"{name}={number} is below the minimum of {minimum}")
        return number

    def float(self, name: str, default: float) -> float:
        value = self._raw(name)
        if value is None:
            return default
        try:
            return float(value)
        except ValueError:
            raise EnvError(f"{name}={value!r} is not a number") from None

    def list(self, name: str, default: list[str] | None = None) -> list[str]:
        value = self._raw(name)
        if value is None:
            return list(default or [])
        return [item.strip() for item in value.split(",") if item.strip()]

    def choice(self, name: str, default: str, choices: set[str]) -> str:
        value = self._raw(name) or default
        if value not in choices:
            raise EnvError(f"{name}={value!r} must be one of {', '.join(sorted(choices))}")
        return value

    def key32(self, name: str, default: bytes | None = None) -> bytes | None:
        """A 32-byte secret given as base64 (standard or URL-safe) or 64 hex digits."""
        value = self._raw(name)
        if value is None:
            return default
        return parse_key32(name, value)


def parse_key32(name: str, value: str) -> bytes:
    if len(value) == 64:
        try:
            return bytes.fromhex(value)
        except ValueError:
            pass
    try:
        decoded = base64.b64decode(value + "=" * (-len(value) % 4), altchars=b"-_", validate=False)
    except (binascii.Error, ValueError):
        decoded = b""
    if len(decoded) != 32:
        raise EnvError(f"{name} must be 32 random bytes, base64 or hex encoded")
    return decoded
