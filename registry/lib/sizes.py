"""Sizes in words people read: the README, settings and error messages say "25 MB" for
``25 * 1024 * 1024`` bytes, so messages count megabytes the same way (MiB, written "MB")."""

from __future__ import annotations

_MB = 1024 * 1024


def megabytes(size: int) -> str:
    """``26214400`` -> ``"25 MB"``; one decimal below 10 MB (``"2.5 MB"``), none above."""
    value = size / _MB
    if value < 10 and round(value, 1) != round(value):
        return f"{value:.1f} MB"
    return f"{value:.0f} MB"
