"""The one list pagination of the API: ``limit`` (1 to ``MAX_LIMIT``, default ``PAGE_SIZE``) and
``offset`` (from 0), answered as ``{"count", "next", "previous", "results"}``.

A larger ``limit`` is answered with ``MAX_LIMIT`` items and an ``offset`` past the end with an
empty page, so no number a client sends reaches the database as an absurd LIMIT or OFFSET.
"""

from __future__ import annotations

from rest_framework.pagination import LimitOffsetPagination

PAGE_SIZE = 50
MAX_LIMIT = 200
# Far past any list this registry holds; larger offsets answer an empty page without a query.
MAX_OFFSET = 2**53


class Pagination(LimitOffsetPagination):
    default_limit = PAGE_SIZE
    max_limit = MAX_LIMIT

    def get_offset(self, request) -> int:
        return min(super().get_offset(request), MAX_OFFSET)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            schema = parameter["schema"]
            if parameter["name"] == self.limit_query_param:
                schema.update({"minimum": 1, "maximum": MAX_LIMIT, "default": PAGE_SIZE})
                parameter["description"] = (
                    f"Number of results to return per page (1 to {MAX_LIMIT}, default "
                    f"{PAGE_SIZE}); a larger limit returns {MAX_LIMIT}."
                )
            elif parameter["name"] == self.offset_query_param:
                schema.update({"minimum": 0, "default": 0})
        return parameters
