"""Request body parsers: JSON with a nesting limit.

The standard library's parser recurses once per level, so a body of ten thousand ``[`` raises
``RecursionError`` deep inside it, which would surface as a 500 before any view or serializer
runs. No request of this API nests more than a few levels, so anything deeper than
``MAX_JSON_DEPTH`` is refused as a 400 with a plain message, whether Python's recursion limit
was reached or not.
"""

from __future__ import annotations

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

MAX_JSON_DEPTH = 32


def json_depth(value: object) -> int:
    """How deeply lists and objects nest in ``value`` (0 for a plain value), without recursion."""
    deepest = 0
    pending: list[tuple[object, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth + 1)
        if deepest > MAX_JSON_DEPTH:
            break
        pending.extend((child, depth + 1) for child in children)
    return deepest


class BoundedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        too_deep = ParseError(f"The JSON body nests deeper than {MAX_JSON_DEPTH} levels.")
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise too_deep from None
        if json_depth(data) > MAX_JSON_DEPTH:
            raise too_deep
        return data
