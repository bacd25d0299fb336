"""Canonical JSON (RFC 8785): the bytes every signature and Merkle leaf is computed over."""

from __future__ import annotations

import math

import pytest

from consent.lib.canonical import CanonicalJSONError, canonical_json, is_canonical, parse_json


def test_keys_are_sorted_by_utf16_code_units_and_whitespace_is_dropped():
    # From RFC 8785 §3.2.3's example: U+1F600 is a surrogate pair (0xD83D 0xDE00) in UTF-16,
    # so it sorts before U+FB33 although its code point is larger.
    value = {"\u20ac": "Euro", "\r": "CR", "\ufb33": "Hebrew", "1": "One", "\U0001f600": "Smiley"}
    assert (
        canonical_json(value)
        == (
            '{"\\r":"CR","1":"One","\u20ac":"Euro","\U0001f600":"Smiley","\ufb33":"Hebrew"}'
        ).encode()
    )


def test_numbers_are_formatted_like_ecmascript():
    assert canonical_json([1.0, 0.1, 1e21, 1e-7, -0.0, 100, 2**53 - 1]) == (
        b"[1,0.1,1e+21,1e-7,0,100,9007199254740991]"
    )


def test_equal_values_give_identical_bytes_whatever_the_key_order():
    first = {"b": [1, {"y": True, "x": None}], "a": "\u00e9"}
    second = {"a": "\u00e9", "b": [1, {"x": None, "y": True}]}
    assert canonical_json(first) == canonical_json(second)
    assert canonical_json(first) == '{"a":"é","b":[1,{"x":null,"y":true}]}'.encode()


@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_are_refused_with_a_clear_error(number):
    with pytest.raises(CanonicalJSONError, match="finite"):
        canonical_json({"value": number})


def test_integers_beyond_the_double_precision_range_are_refused():
    with pytest.raises(CanonicalJSONError, match="2\\*\\*53"):
        canonical_json({"value": 2**53})


@pytest.mark.parametrize(
    "value",
    [{1: "x"}, {"when": object()}, {"raw": b"bytes"}, {"tags": {"a"}}, {"bad": "\ud800"}],
    ids=["int-key", "object", "bytes", "set", "lone-surrogate"],
)
def test_values_json_cannot_represent_exactly_are_refused(value):
    with pytest.raises(CanonicalJSONError):
        canonical_json(value)


def test_the_error_renders_as_a_registry_validation_error():
    with pytest.raises(CanonicalJSONError) as caught:
        canonical_json({"value": math.nan})
    assert caught.value.status_code == 400
    assert caught.value.as_dict()["code"] == "invalid_json"


def test_parsing_refuses_duplicate_keys_and_non_standard_constants():
    with pytest.raises(CanonicalJSONError, match="Duplicate"):
        parse_json(b'{"a":1,"a":2}')
    with pytest.raises(CanonicalJSONError):
        parse_json(b'{"a":NaN}')
    with pytest.raises(CanonicalJSONError):
        parse_json(b'{"a":"\xff"}')


def test_is_canonical_accepts_only_the_exact_canonical_bytes():
    assert is_canonical(b'{"a":1,"b":[true,null]}')
    assert not is_canonical(b'{"b":[true,null],"a":1}')
    assert not is_canonical(b'{"a": 1}')
    assert not is_canonical(b'{"a":1.0}')
    assert not is_canonical(b"not json")
