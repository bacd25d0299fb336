"""The OpenAPI schema's side of ``registry.api.base.ApiView``: what every operation can answer.

``AutoSchema`` (``REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"]``) adds to each operation the error
responses it can give, all with the one envelope (``registry.api.exceptions.ErrorSerializer``),
unless the view already documents that status:

- 400 for every operation (any parameter or body can be malformed; a NUL character in the URL is
  refused by ``ApiView``), 413 and 415 for every operation that takes a body;
- 401, 403 and 404 for every operation that is not public (``AllowAny``): a credential may lack
  the scope or be the wrong kind of caller, and what the caller acts for (their person, their
  organisation) or names in the body may not exist or not be visible to them;
- 404 for every operation with a path parameter;
- 409 for every write (``POST``, ``PUT``, ``PATCH``, ``DELETE``): services refuse a change that
  conflicts with the current state (already answered, already registered, already revoked).

Paginated lists are declared by ``pagination_class`` on the view (``registry.api.pagination``),
which drf-spectacular turns into the ``limit``/``offset`` parameters and the paginated envelope.
"""

from __future__ import annotations

from drf_spectacular import openapi
from rest_framework.permissions import AllowAny

from registry.api.exceptions import ErrorSerializer

_DESCRIPTIONS = {
    "400": "The request is not valid; `error.message` says what was expected.",
    "401": "No credentials, or credentials that are not valid (unknown, revoked or expired).",
    "403": "The credentials do not allow this operation (a missing scope, or the wrong kind of "
    "caller: a person, an organisation, a signed-in session).",
    "404": "Not found, or not visible to the caller.",
    "409": "The request conflicts with the current state (e.g. already answered).",
    "413": "The request body is larger than this operation accepts.",
    "415": "The request body's content type is not accepted here.",
    "422": "The request was understood but could not be processed; see `error.detail`.",
    "429": "Too many requests; retry after the `Retry-After` header's seconds.",
}


class AutoSchema(openapi.AutoSchema):
    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        public = AllowAny in getattr(self.view, "permission_classes", ())
        statuses = ["400"]
        if "requestBody" in operation:
            statuses += ["413", "415"]
        if not public:
            statuses += ["401", "403", "404"]
        if any(p.get("in") == "path" for p in operation.get("parameters", ())):
            statuses.append("404")
        if self.method in ("POST", "PUT", "PATCH", "DELETE"):
            statuses.append("409")
        error = self.resolve_serializer(ErrorSerializer, "response").ref
        responses = operation.setdefault("responses", {})
        for status in statuses:
            responses.setdefault(
                status,
                {
                    "content": {"application/json": {"schema": error}},
                    "description": _DESCRIPTIONS[status],
                },
            )
        for status, response in responses.items():
            # Errors the views document with a bare ErrorSerializer get a description too.
            if status in _DESCRIPTIONS and not response.get("description"):
                response["description"] = _DESCRIPTIONS[status]
        operation["responses"] = dict(sorted(responses.items()))
        return operation
