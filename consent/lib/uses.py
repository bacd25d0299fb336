"""The vocabulary of intended uses, shared by opt-outs, grants, consent checks and media checks."""

from __future__ import annotations

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


def is_territory(value: str) -> bool:
    return value == WORLDWIDE or (len(value) == 2 and value.isascii() and value.isupper())
