"""Reads of the matching app: nearest-template search, checks and what matched a person.

Search works on protected templates (``registry.lib.template_protection``): each stored vector is
the engine's embedding rotated by the secret orthogonal matrix of its template key version. The
query is rotated with the same key, once per key version in use, and compared only with rows of
that version; a rotation preserves Euclidean distances, so distances are the engine's.

Checks (``opted_out_only``) search the in-memory index beside PostgreSQL when
``MATCHING_INDEX=memory``, the default (``matching.selectors.memory_index``: an index file of the
opted-out templates, every candidate re-checked against its row, the changes since the build
compared exactly). Otherwise, and for every other search, two ways which return the same
answers (``tests/matching/test_search.py``):

* pgvector's HNSW index (``template_embedding_hnsw``), approximate, when the extension is
  installed and ``exact`` is false: ``ORDER BY embedding <-> q LIMIT k``.
* An exact scan otherwise: pgvector's ``<->`` with index scans disabled, or on a PostgreSQL
  without pgvector the same Euclidean distance computed over ``double precision[]`` in SQL.

Every search compares the query only with templates of one model (``model_name``, by default the
active engine's): vectors of two models are not comparable, even when they have the same length
(``docs/engines.md``, moving a registry to a new model). With one model stored the filter passes
every row the index hands back, so it costs nothing; while two are stored side by side, the HNSW
pool holds the other model's rows too and the search falls back to the exact scan more often.

Checks search only people with an active opt-out (``opted_out_only``): their templates carry
``opted_out`` (kept by ``consent.services.templates_optout_sync``) and have their own partial
HNSW index (``template_optout_hnsw``), so the index hands back candidates, and only the use
category is left to filter. Other filtered searches go through the index of every template.

A candidate filter (``person_ids``: the people with an active opt-out covering the use) cannot be
pushed into pgvector 0.6's HNSW scan (no iterative scan; a WHERE clause is applied to the
``ef_search`` rows the index hands back, which may leave none). So the index is asked for the
``candidate_pool`` nearest templates of everyone, the filter is applied to those, and when that
leaves fewer than ``limit`` rows the search falls back to the exact scan over the candidates only,
which is what the filtered query means -- unless ``max_distance`` says which hits matter and the
pool already reaches beyond it (then every wanted candidate was in the pool). Either way the answer
is the exact search's, up to HNSW's recall.

Reads of an organisation's own checks (history, review queue, usage) are in ``checks``.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Iterable
from functools import partial
from typing import Any

import numpy as np
from django.conf import settings
from django.core.exceptions import EmptyResultSet
from django.db import connection, transaction
from django.db.models import QuerySet

from matching.engine import get_engine
from matching.models import CheckMatch
from matching.selectors.memory_index import memory_search
from matching.selectors.search_types import Hit, SqlSubquery, VersionProbe
from registry.db import uses_pgvector, vector_literal
from registry.lib.template_protection import protect
from registry.models import FaceTemplate
from registry.selectors import current_template_key_version, template_key

TEMPLATE_TABLE = FaceTemplate._meta.db_table

# How many index results the filtered search looks at before filtering. Large enough that the
# nearest candidates are almost always inside it when a fraction of people have opted out; the
# exact fallback covers the rest.
CANDIDATE_POOL = 100
# The same for the checks' search of opted-out templates only (``opted_out_only``), where the
# pool is also the search breadth (ef_search). On 1M templates with a third opted out
# (docs/benchmarks.md, search) its first hit agreed with the exact search on 0.987 of queries
# with a candidate in the review band at 100, 0.968 at 64 and 0.929 at 40 (photos of opted-out
# people: 1.0 at all three), so it stays at 100.
OPTOUT_POOL = 100
# The HNSW search breadth (pgvector's default is 40). It bounds how many rows an index scan can
# return, so it is raised to the pool or limit when those are larger. docs/benchmarks.md (search):
# on 1M synthetic templates with the migrations' index (m=32, ef_construction=64) recall@1 is
# 0.96 at 64 in ~4.3 ms and 0.98 at 100. Checks search the opted-out templates' index with
# OPTOUT_POOL instead.
EF_SEARCH = 64
# Key versions in use are re-read this often; the current version is always searched, so a new
# version's templates are found at once, and a stale version only costs an empty query.
KEY_VERSIONS_TTL_S = 30.0


def faces_nearest(
    *,
    embedding: np.ndarray,
    limit: int = 10,
    person_ids: QuerySet | SqlSubquery | Iterable[int] | None = None,
    exact: bool = False,
    max_distance: float | None = None,
    ef_search: int | None = None,
    candidate_pool: int | None = None,
    opted_out_only: bool = False,
    model_name: str | None = None,
) -> list[Hit]:
    """The ``limit`` stored templates nearest to ``embedding`` (a raw engine embedding).

    ``max_distance`` drops hits further than that (a check needs only those that could be a
    match or a possible match), which also lets a filtered search skip the exact fallback.

    ``person_ids`` restricts the search to those people's templates: a ``values("id")`` /
    ``values_list("id", flat=True)`` QuerySet (run as a subquery) or an iterable of ids.
    ``exact`` forces the exact scan even when the HNSW index exists.
    ``opted_out_only`` says every candidate has an active opt-out, so the HNSW search walks only
    the opted-out templates' index (the exact scans, the reference, read the filter alone).
    ``model_name`` says whose templates are compared (default: the active engine's model); a
    raw embedding is only comparable with templates of the model that produced it.
    """
    if model_name is None:
        model_name = get_engine().name
    query = np.asarray(embedding, dtype=np.float64).ravel()
    if query.shape != (128,):
        raise ValueError(f"expected a 128-dimensional embedding, got {query.shape}")
    if limit <= 0:
        return []
    try:
        filter_sql, filter_params, probe_sql = _person_filter(person_ids)
    except EmptyResultSet:  # an empty candidate set: nobody to find
        return []
    hits: list[Hit] = []
    pgvector = uses_pgvector()
    # settings.MATCHING_EXACT_SEARCH: diagnostics and the naive side of bench/api_load.py.
    exact = exact or settings.MATCHING_EXACT_SEARCH
    in_use = _versions_in_use()
    for version in template_key_versions():
        rotated = protect(query, template_key(version))
        if opted_out_only and not exact and settings.MATCHING_INDEX == "memory":
            exact_scan = _exact_vector if pgvector else _exact_array
            hits += memory_search(
                VersionProbe(
                    rotated, version, model_name, limit, filter_sql, filter_params, probe_sql
                ),
                max_distance=max_distance,
                exact_fallback=partial(
                    exact_scan, rotated, version, model_name, limit, filter_sql, filter_params
                ),
            )
        elif not pgvector:
            hits += _exact_array(rotated, version, model_name, limit, filter_sql, filter_params)
        elif exact:
            hits += _exact_vector(rotated, version, model_name, limit, filter_sql, filter_params)
        else:
            hits += _hnsw(
                rotated,
                version,
                model_name,
                limit,
                filter_sql,
                filter_params,
                ef_search=ef_search or (OPTOUT_POOL if opted_out_only else EF_SEARCH),
                pool=candidate_pool or (OPTOUT_POOL if opted_out_only else CANDIDATE_POOL),
                max_distance=max_distance,
                stored=version in in_use,
                probe_sql=probe_sql,
                opted_out_only=opted_out_only and bool(filter_sql),
            )
    if max_distance is not None:
        hits = [hit for hit in hits if hit.distance <= max_distance]
    hits.sort(key=lambda hit: (hit.distance, hit.template_id))
    return hits[:limit]


# --- key versions --------------------------------------------------------------------------------

_versions_lock = threading.Lock()
_versions_cache: tuple[float, tuple[int, ...]] | None = None


def template_key_versions(*, refresh: bool = False) -> tuple[int, ...]:
    """Key versions to search: those of stored templates (cached briefly) plus the current one.

    ``SELECT DISTINCT key_version`` reads the whole table (no index on it), which would cost more
    than the search itself on a million rows; versions change only when keys are rotated.
    """
    return tuple(sorted(set(_versions_in_use(refresh=refresh)) | {current_template_key_version()}))


def _versions_in_use(*, refresh: bool = False) -> tuple[int, ...]:
    global _versions_cache
    now = time.monotonic()
    cached = _versions_cache
    if refresh or cached is None or now - cached[0] > KEY_VERSIONS_TTL_S:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT DISTINCT key_version FROM {TEMPLATE_TABLE}")  # noqa: S608
            in_use = tuple(sorted(row[0] for row in cursor.fetchall()))
        with _versions_lock:
            _versions_cache = cached = (now, in_use)
    return cached[1]


def template_key_versions_forget() -> None:
    """Drop the cached key versions (after a key rotation, and between tests)."""
    global _versions_cache
    with _versions_lock:
        _versions_cache = None


# --- the three search paths ---------------------------------------------------------------------


def _person_filter(
    person_ids: QuerySet | SqlSubquery | Iterable[int] | None,
) -> tuple[str, list[Any], str]:
    """The candidate filter, compiled once per search: a WHERE clause on templates ``t``, its
    parameters, and the same test for a row ``p`` of the HNSW pool (same parameters).

    The pool's test of a subquery is a correlated EXISTS: PostgreSQL probes the candidates' index
    for just the pool's ~100 people, where IN (or a join) would hash every candidate (all
    opted-out people) on every check.
    """
    if person_ids is None:
        return "", [], "true"
    if isinstance(person_ids, SqlSubquery):
        sql, params = person_ids.sql, list(person_ids.params)
    elif isinstance(person_ids, QuerySet):
        # Without ordering: a model's default ORDER BY would make PostgreSQL sort every row.
        sql, params = person_ids.order_by().query.sql_with_params()
        params = list(params)
    else:
        ids = [int(pk) for pk in person_ids]
        if not ids:
            raise EmptyResultSet
        return "t.person_id = ANY(%s)", [ids], "p.person_id = ANY(%s)"
    probe = f"EXISTS (SELECT 1 FROM ({sql}) AS c(pid) WHERE c.pid = p.person_id)"  # noqa: S608
    return f"t.person_id IN ({sql})", params, probe


def _where(filter_sql: str) -> str:
    """Rows of one key version and one model (two parameters), then the candidate filter."""
    clauses = ["t.key_version = %s", "t.model_name = %s"]
    if filter_sql:
        clauses.append(filter_sql)
    return " AND ".join(clauses)


def _hits(rows: Iterable[tuple[int, int, float]]) -> list[Hit]:
    return [Hit(template_id=r[0], person_id=r[1], distance=float(r[2])) for r in rows]


def _hnsw(
    rotated: np.ndarray,
    version: int,
    model_name: str,
    limit: int,
    filter_sql: str,
    filter_params: list[Any],
    *,
    ef_search: int,
    pool: int,
    max_distance: float | None,
    stored: bool,
    probe_sql: str = "true",
    opted_out_only: bool = False,
) -> list[Hit]:
    literal = vector_literal(rotated)
    fetch = max(limit, pool) if filter_sql else limit
    # The partial index's predicate: PostgreSQL then scans template_optout_hnsw.
    optouts = "AND t.opted_out" if opted_out_only else ""
    with connection.cursor() as cursor:
        _set_ef_search(cursor, max(ef_search, fetch))
        cursor.execute(
            f"""
            SELECT p.id, p.person_id, p.distance, {probe_sql} AS allowed
            FROM (
                SELECT t.id, t.person_id, t.embedding <-> %s::vector AS distance
                FROM {TEMPLATE_TABLE} t
                WHERE t.key_version = %s AND t.model_name = %s {optouts}
                ORDER BY t.embedding <-> %s::vector
                LIMIT %s
            ) p
            ORDER BY p.distance, p.id
            """,  # noqa: S608 - the table name and filter are ours, values are parameters
            # The candidate filter is tested on the pool's rows in the same statement (probe_sql).
            # The model is tested on the rows the index hands back (pgvector 0.6 cannot push it
            # into the scan): with one model stored it keeps them all.
            [*filter_params, literal, version, model_name, literal, fetch],
        )
        rows = cursor.fetchall()
    pool_hits = _hits(rows)
    if not filter_sql:
        if len(pool_hits) < limit and stored:
            # Fewer rows than asked for: a small table, or an index whose entries for deleted
            # rows (erasures, before VACUUM) used up the scan's ef_search budget, or another
            # model's templates filling the pool while two models are stored.
            return _exact_vector(rotated, version, model_name, limit, "", [])
        return pool_hits
    hits = [hit for hit, row in zip(pool_hits, rows, strict=True) if row[3]][:limit]
    pool_reach = pool_hits[-1].distance if pool_hits else None
    if len(hits) < limit and stored:
        # Candidates may lie beyond the pool (few people opted out, many closer faces that did
        # not), unless the pool already reaches past every distance the caller wants. A pool
        # shorter than asked for proves nothing about its reach: the scan's ef_search budget
        # was spent on index entries of deleted rows (erasures, revocations and rolled-back
        # enrollments leave them until VACUUM; pgvector 0.6 has no iterative scan), and the
        # live template nearest the probe may be among those it never reached.
        pool_covers = (
            len(rows) >= fetch
            and max_distance is not None
            and pool_reach is not None
            and pool_reach > max_distance
        )
        if not pool_covers:
            return _exact_vector(rotated, version, model_name, limit, filter_sql, filter_params)
    return hits


_ef_search_set: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()


def _set_ef_search(cursor: Any, value: int) -> None:
    """Make an HNSW scan look at ``value`` candidates (it returns at most that many rows).

    On the API's hot path the connection is in autocommit mode and persistent, so the setting is
    made for the session once and remembered, saving two round trips per search. Inside a
    transaction a session-level SET would be undone by a rollback, so there it is SET LOCAL, every
    time.
    """
    if connection.in_atomic_block:
        cursor.execute("SELECT set_config('hnsw.ef_search', %s, true)", [str(value)])
        return
    raw = connection.connection
    if _ef_search_set.get(raw) != value:
        cursor.execute("SELECT set_config('hnsw.ef_search', %s, false)", [str(value)])
        _ef_search_set[raw] = value


def _exact_vector(
    rotated: np.ndarray,
    version: int,
    model_name: str,
    limit: int,
    filter_sql: str,
    filter_params: list[Any],
) -> list[Hit]:
    literal = vector_literal(rotated)
    with transaction.atomic(), connection.cursor() as cursor:
        # Without the index the planner sorts every (filtered) row by its true distance.
        cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute(
            f"""
            SELECT t.id, t.person_id, t.embedding <-> %s::vector AS distance
            FROM {TEMPLATE_TABLE} t
            WHERE {_where(filter_sql)}
            ORDER BY distance, t.id
            LIMIT %s
            """,  # noqa: S608
            [literal, version, model_name, *filter_params, limit],
        )
        return _hits(cursor.fetchall())


def _exact_array(
    rotated: np.ndarray,
    version: int,
    model_name: str,
    limit: int,
    filter_sql: str,
    filter_params: list[Any],
    *,
    column: str = "t.embedding",
) -> list[Hit]:
    """Exact Euclidean distance over ``double precision[]`` rows, computed in PostgreSQL.

    ``column`` lets the tests run this path on a pgvector database (``t.embedding::real[]``).
    """
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT t.id, t.person_id, sqrt(d.squared) AS distance
            FROM {TEMPLATE_TABLE} t
            CROSS JOIN LATERAL (
                SELECT sum((a - b) * (a - b)) AS squared
                FROM unnest({column}::double precision[], %s::double precision[]) AS u(a, b)
            ) d
            WHERE {_where(filter_sql)}
            ORDER BY d.squared, t.id
            LIMIT %s
            """,  # noqa: S608
            [rotated.astype(np.float64).tolist(), version, model_name, *filter_params, limit],
        )
        return _hits(cursor.fetchall())


# --- checks ---------------------------------------------------------------------------------------


def person_check_matches(*, person) -> Any:
    """Every check that matched (or possibly matched) ``person``, newest first, with the
    organisation that made it: the person's "checks that matched me" page."""
    return (
        CheckMatch.objects.filter(person=person)
        .select_related("organisation", "media_check")
        .order_by("-created_at", "-id")
    )
