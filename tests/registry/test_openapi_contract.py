"""The published OpenAPI schema says what the API really does, so a generated client works:
paginated lists as pages with limit/offset, every error with the one envelope, and the proof
endpoints' real bounds."""

from __future__ import annotations

import pytest
from drf_spectacular.generators import SchemaGenerator

ERROR_REF = "#/components/schemas/Error"


@pytest.fixture(scope="module")
def schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def _operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def test_paginated_lists_are_declared_as_pages_with_limit_and_offset(schema):
    paginated = {
        ("/api/v1/consent-requests", "get"),
        ("/api/v1/consent-grants", "get"),
        ("/api/v1/me/consent/records", "get"),
        ("/api/v1/me/consent/requests", "get"),
        ("/api/v1/webhooks/endpoints/{endpoint_id}/deliveries", "get"),
    }
    for path, method in paginated:
        operation = schema["paths"][path][method]
        ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        page = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
        assert set(page["properties"]) == {"count", "next", "previous", "results"}, path
        parameters = {p["name"]: p["schema"] for p in operation["parameters"]}
        assert parameters["limit"]["minimum"] == 1 and parameters["limit"]["maximum"] == 200
        assert parameters["offset"]["minimum"] == 0


def test_every_error_response_is_the_one_envelope(schema):
    for path, method, operation in _operations(schema):
        responses = operation["responses"]
        assert "400" in responses, (path, method)
        if operation.get("security") != [{}]:
            assert {"401", "403"} <= set(responses), (path, method)
        if "{" in path:
            assert "404" in responses, (path, method)
        for status, response in responses.items():
            if status.startswith("4"):
                body = response["content"]["application/json"]["schema"]
                assert body == {"$ref": ERROR_REF}, (path, method, status)
                assert response["description"], (path, method, status)
    checks = schema["paths"]["/api/v1/checks"]["post"]["responses"]
    assert checks["429"]["content"]["application/json"]["schema"] == {"$ref": ERROR_REF}


def test_the_proof_endpoints_publish_their_bounds(schema):
    def bounds(path):
        return {
            p["name"]: (p["schema"].get("minimum"), p["schema"].get("maximum"))
            for p in schema["paths"][path]["get"]["parameters"]
        }

    assert bounds("/api/v1/log/inclusion-proof") == {
        "leaf_index": (0, 2**62),
        "tree_size": (1, 2**62),
    }
    assert bounds("/api/v1/log/consistency-proof") == {"first": (0, 2**62), "second": (0, 2**62)}
    assert bounds("/api/v1/log/entries/{index}") == {"index": (0, 2**62)}
