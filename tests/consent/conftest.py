"""Fixtures for the transparency-log tests."""

from __future__ import annotations

import pytest

from consent.models import LogEntry
from consent.services import log_append


def append_records(count: int, *, start: int = 0) -> list[LogEntry]:
    # Payloads stand in for real decisions; like them, they carry no personal data.
    return [
        log_append(payload={"type": "test_decision", "sequence": start + n, "scope": ["training"]})
        for n in range(count)
    ]


@pytest.fixture
def log_of_20(db) -> list[LogEntry]:
    return append_records(20)
