"""RFC 8785 JSON Canonicalization Scheme (JCS).

Signatures and Merkle leaves are computed over bytes, so every party must turn the same JSON
value into the same bytes. We use the maintained ``rfc8785`` package rather than
``json.dumps(sort_keys=True)``: JCS sorts keys by UTF-16 code units and formats numbers the way
ECMAScript does, which ``json`` does not.
"""

from __future__ import annotations

import json
from typing import Any

import rfc8785

from registry.lib.errors import ValidationFailed


class CanonicalJSONError(ValidationFailed):
    code = "invalid_json"
    default_message = "The value cannot be represented as canonical JSON (RFC 8785)."


def canonical_json(value: Any) -> bytes:
    """Return the RFC 8785 canonical UTF-8 bytes of ``value``.

    Rejects what JCS cannot represent exactly, instead of silently producing bytes another
    implementation would not reproduce: NaN and infinities, integers beyond +-(2**53 - 1),
    non-string object keys, lone surrogates and non-JSON types (bytes, datetimes, sets...).
    """
    try:
        return rfc8785.dumps(value)
    except rfc8785.FloatDomainError as error:
        raise CanonicalJSONError(
            f"Numbers must be finite for canonical JSON: {error}",
            detail={"reason": "non_finite_number"},
        ) from error
    except rfc8785.IntegerDomainError as error:
        raise CanonicalJSONError(
            f"Integers must lie within +-(2**53 - 1) for canonical JSON: {error}",
            detail={"reason": "integer_out_of_range"},
        ) from error
    except rfc8785.CanonicalizationError as error:
        raise CanonicalJSONError(
            f"Not representable as canonical JSON: {error}",
            detail={"reason": "unsupported_value"},
        ) from error
    except RecursionError as error:
        raise CanonicalJSONError(
            "The value is nested too deeply for canonical JSON.",
            detail={"reason": "too_deep"},
        ) from error


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            # Two parsers could keep different values for a repeated key; a signed document
            # must have exactly one meaning, so it is refused outright.
            raise CanonicalJSONError(
                f"Duplicate object key {key!r}.", detail={"reason": "duplicate_key"}
            )
        obj[key] = value
    return obj


def _reject_constant(name: str) -> Any:
    raise CanonicalJSONError(f"{name} is not valid JSON.", detail={"reason": "non_finite_number"})


def parse_json(data: bytes) -> Any:
    """Parse UTF-8 JSON strictly: no duplicate keys, no NaN/Infinity, valid UTF-8 only."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise CanonicalJSONError("JSON must be UTF-8.", detail={"reason": "not_utf8"}) from error
    try:
        return json.loads(
            text, object_pairs_hook=_reject_duplicate_keys, parse_constant=_reject_constant
        )
    except RecursionError as error:
        raise CanonicalJSONError(
            "The JSON is nested too deeply.", detail={"reason": "too_deep"}
        ) from error
    except ValueError as error:
        if isinstance(error, CanonicalJSONError):
            raise
        raise CanonicalJSONError(f"Not valid JSON: {error}", detail={"reason": "syntax"}) from error


def is_canonical(data: bytes) -> bool:
    """True when ``data`` is exactly the canonical form of the JSON it encodes."""
    try:
        return canonical_json(parse_json(data)) == data
    except CanonicalJSONError:
        return False
