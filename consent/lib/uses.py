"""The vocabulary of intended uses, shared by opt-outs, grants, consent checks and media checks,
and the one validator for each part of a described use (categories, media types, territory,
purpose and validity), so every entry point refuses the same values with the same message.

Validators return the normalised value or raise ``ValidationFailed``; no Django here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from registry.lib.errors import ValidationFailed

# What synthetic media of a person would be used for. An opt-out lists some of these, or all.
USE_CATEGORIES: tuple[str, ...] = (
    "commercial",
    "political",
    "sexual",
    "training",
    "news_satire",
    "entertainment",
    "personal",
)
ALL_USES = "all"

MEDIA_TYPES: tuple[str, ...] = ("image", "video", "audio")

# Territories are ISO 3166-1 alpha-2 codes, or this for everywhere.
WORLDWIDE = "worldwide"

MAX_PURPOSE_LENGTH = 2000


def is_territory(value: str) -> bool:
    return value == WORLDWIDE or (len(value) == 2 and value.isascii() and value.isupper())


def _one_of(value: Any, allowed: Sequence[str], *, field: str, label: str) -> str:
    if not isinstance(value, str) or value not in allowed:
        shown = value[:50] if isinstance(value, str) else type(value).__name__
        raise ValidationFailed(
            f"Unknown {label} {shown!r}; use one of {', '.join(allowed)}.",
            detail={field: shown, "allowed": list(allowed)},
        )
    return value


def category_check(category: Any) -> str:
    """``category`` when it is one of the use categories; else a 400 that lists them."""
    if category is None or category == "":
        raise ValidationFailed(
            f"category: a use category is required ({', '.join(USE_CATEGORIES)}).",
            detail={"category": "required", "allowed": list(USE_CATEGORIES)},
        )
    return _one_of(category, USE_CATEGORIES, field="category", label="use category")


def media_type_check(media_type: Any) -> str:
    """``media_type`` when it is one of the media types; else a 400 that lists them."""
    return _one_of(media_type, MEDIA_TYPES, field="media_type", label="media type")


def categories_clean(categories: Sequence[str] | None, *, allow_all: bool) -> list[str]:
    """The sorted set of categories a record covers; ``[ALL_USES]`` for every use.

    Opt-outs may cover all uses (``None`` or ``["all"]``); a grant (``allow_all=False``) covers
    described uses only.
    """
    if categories is None:
        if not allow_all:
            raise ValidationFailed("List the categories of use.", detail={"categories": "required"})
        return [ALL_USES]
    values = sorted(set(categories))
    if ALL_USES in values:
        if not allow_all:
            raise ValidationFailed(
                "A grant covers described uses, not all uses.", detail={"categories": "all"}
            )
        return [ALL_USES]
    unknown = [value for value in values if value not in USE_CATEGORIES]
    if unknown or not values:
        raise ValidationFailed(
            f"Unknown use categories: {', '.join(unknown) or '(none given)'}.",
            detail={"categories": unknown, "allowed": [*USE_CATEGORIES, ALL_USES]},
        )
    return values


def media_types_clean(media_types: Sequence[str]) -> list[str]:
    """The sorted, non-empty set of media types a grant or request covers."""
    values = sorted(set(media_types or ()))
    unknown = [value for value in values if value not in MEDIA_TYPES]
    if unknown or not values:
        raise ValidationFailed(
            f"Unknown media types: {', '.join(unknown) or '(none given)'}.",
            detail={"media_types": unknown, "allowed": list(MEDIA_TYPES)},
        )
    return values


def territory_clean(territory: Any) -> str:
    if not isinstance(territory, str) or not is_territory(territory):
        raise ValidationFailed(
            f"Territory must be an ISO 3166-1 alpha-2 code or {WORLDWIDE!r}.",
            detail={"territory": territory},
        )
    return territory


def use_terms_clean(
    *,
    purpose: str,
    categories: Sequence[str],
    media_types: Sequence[str],
    territory: str,
    valid_from: datetime | None,
    valid_until: datetime | None,
) -> tuple[str, list[str], list[str], str]:
    """The described use shared by grants and consent requests, validated and normalised:
    ``(purpose, categories, media_types, territory)``."""
    purpose = (purpose or "").strip()
    if not purpose or len(purpose) > MAX_PURPOSE_LENGTH:
        raise ValidationFailed(
            f"Describe the use in 1 to {MAX_PURPOSE_LENGTH} characters.",
            detail={"purpose": "length"},
        )
    cleaned_categories = categories_clean(categories, allow_all=False)
    cleaned_media = media_types_clean(media_types)
    territory = territory_clean(territory)
    if valid_from and valid_until and valid_until <= valid_from:
        raise ValidationFailed("valid_until must be after valid_from.")
    return purpose, cleaned_categories, cleaned_media, territory
