"""A deeply nested JSON body is a 400 with a plain message, never a 500 (even unauthenticated)."""

from __future__ import annotations

import pytest

from registry.api.parsers import MAX_JSON_DEPTH, json_depth


@pytest.mark.django_db
@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 100_000])
def test_deep_nesting_is_refused_with_the_error_envelope(client, depth):
    body = "[" * depth + "]" * depth
    response = client.post("/api/v1/auth/signup", body, content_type="application/json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "malformed_request"
    assert f"deeper than {MAX_JSON_DEPTH} levels" in error["message"]


@pytest.mark.django_db
def test_ordinary_nesting_still_reaches_the_view(client):
    response = client.post(
        "/api/v1/auth/signup", {"email": ["not", {"a": "string"}]}, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] != "malformed_request"


def test_depth_is_counted_without_recursion():
    assert json_depth(1) == 0
    assert json_depth({"a": [1, {"b": []}]}) == 4
    deep: list = []
    for _ in range(50_000):
        deep = [deep]
    assert json_depth(deep) == MAX_JSON_DEPTH + 1  # stops counting past the limit
