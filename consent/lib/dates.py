"""Timestamps as the registry writes them: UTC, ISO 8601 with a ``Z``, whole milliseconds in logs.

Signed records, receipts, webhook events and published keys all carry times as text, and a
verifier compares that text byte for byte, so every one of them is written by ``iso_utc`` here.
"""

from __future__ import annotations

from datetime import UTC, datetime


def whole_ms(moment: datetime) -> datetime:
    """``moment`` truncated to whole milliseconds, the precision signed records and heads carry."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def iso_utc(moment: datetime | None, *, timespec: str = "auto") -> str | None:
    """``moment`` in UTC as ISO 8601 ending in ``Z`` (None stays None).

    A naive datetime is refused: its meaning depends on the machine's time zone, and a signed
    timestamp must mean the same thing to every verifier.
    """
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return moment.astimezone(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


def iso_ms(moment: datetime | None) -> str | None:
    """``iso_utc`` to the millisecond: the form of every time in a signed record or receipt."""
    return iso_utc(moment, timespec="milliseconds")
