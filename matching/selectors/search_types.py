"""The values the search passes around: a hit, a compiled candidate filter, and one key
version's probe (what ``faces_nearest`` hands to each search path)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True, slots=True)
class SqlSubquery:
    """A candidate filter already compiled to SQL (``SELECT person_id ...``) with its params:
    the same for every check of a use category, so it is compiled once per process."""

    sql: str
    params: tuple


@dataclass(frozen=True, slots=True)
class Hit:
    template_id: int
    person_id: int
    distance: float


@dataclass(frozen=True, slots=True)
class VersionProbe:
    """One search against one key version's templates of one model.

    ``rotated`` is the query protected with that version's key; ``filter_sql`` (on a template
    row ``t``) and ``probe_sql`` (on a row ``p`` of a candidate pool) are the same candidate
    filter, both taking ``filter_params``; ``filter_sql`` is empty and ``probe_sql`` ``true``
    when every person is a candidate.
    """

    rotated: np.ndarray
    version: int
    model_name: str
    limit: int
    filter_sql: str
    filter_params: list[Any]
    probe_sql: str
