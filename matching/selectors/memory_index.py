"""The checks' search through the in-memory index beside PostgreSQL (``MATCHING_INDEX=memory``).

PostgreSQL stays the system of record; the index is derived from it and may be stale. It holds
the opted-out templates (protected vectors, so distances are the engine's) as of one snapshot
(``SearchIndexBuild.snapshot``), one file per model and key version, which every worker maps
read-only (``matching.lib.ann_index``). A search is right on the very next check however stale
the files are, because one SQL statement per key version

* re-checks every template the index returns against its current row (still opted out, same
  model and key version, its person still a candidate) and takes the distance from that row:
  an erased template, a revoked or unflagged person, a re-protected vector never match; and
* compares exactly every opted-out template changed by a transaction the build could not see
  (``change_xid``, kept by a trigger, migration registry 0011): the delta since the build.

When the index's pool of nearest templates runs out before the review distance and too few
candidates survived the re-check (a filter that few opted-out people pass, or many ghosts of
erased templates), the pool is widened once and then the exact scan in PostgreSQL decides, as in
the pgvector path. With no build at all every opted-out template is delta: an exact search.

Workers notice a new build by the manifest's inode (``os.stat`` per search, about a microsecond)
and map the new files without a restart; the old files stay valid for a worker still reading
them (unlinking a mapped file leaves the mapping intact).
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from django.conf import settings
from django.db import connection

from matching.lib.ann_index import AnnIndexView
from matching.models import SearchIndexBuild
from matching.selectors.search_types import Hit, VersionProbe
from registry.db import uses_pgvector, vector_literal
from registry.models import FaceTemplate

logger = logging.getLogger(__name__)

TEMPLATE_TABLE = FaceTemplate._meta.db_table
MANIFEST = "current.json"
# The nearest templates asked of the index per key version, and HNSW's breadth for them
# (docs/benchmarks.md, "In-memory index": first hits agreed with the exact search on 1M
# templates at this breadth).
POOL = 100
BREADTH = 128
# The one wider try before the exact scan in PostgreSQL.
WIDE_POOL = 1000
DISTANCE_MARGIN = 1e-4
# psycopg's default: a server-side-bound statement is prepared after this many executions.
PREPARE_THRESHOLD = 5
# PostgreSQL's text form of a pg_snapshot: xmin:xmax:xip,xip,...
SNAPSHOT_FORMAT = re.compile(r"\d+:\d+:(\d+(,\d+)*)?")


@dataclass(frozen=True, slots=True)
class LoadedIndex:
    """A build's files, mapped, with the snapshot its rows were read under."""

    build_id: str
    snapshot: str
    views: dict[tuple[str, int], AnnIndexView] = field(default_factory=dict)


def changed_since_sql(snapshot: str) -> str:
    """SQL true for a template row ``t`` changed by a transaction ``snapshot`` did not see.

    Every such transaction's id is at least the snapshot's xmin, which the btree on change_xid
    finds. The values are written into the text, not passed as parameters: the checks' statement
    is then one prepared statement per build, whose plan knows how few rows are that recent (a
    parameter's plan would guess a third of the table). Hence the format check.
    """
    if not SNAPSHOT_FORMAT.fullmatch(snapshot):
        raise ValueError("not a pg_snapshot")
    xmin = snapshot.split(":", 1)[0]
    return (
        f"t.change_xid >= '{xmin}'::xid8 "
        f"AND NOT pg_visible_in_snapshot(t.change_xid, '{snapshot}'::pg_snapshot)"
    )


def index_directory() -> Path:
    """This database's index directory: one per database name, so a test database or a second
    deployment on the same disk never reads another's files."""
    name = str(connection.settings_dict["NAME"])
    return Path(settings.MATCHING_INDEX_DIR) / name.replace("/", "_")


_loaded_lock = threading.Lock()
_loaded: tuple[tuple[str, int, int], LoadedIndex | None] | None = None


def current_index() -> LoadedIndex | None:
    """The current build, mapped; None when there is none (every opted-out template is delta).

    Re-read only when the manifest file changed (a build replaces it atomically).
    """
    global _loaded
    manifest = index_directory() / MANIFEST
    try:
        stat = os.stat(manifest)
    except FileNotFoundError:
        return None
    key = (str(manifest), stat.st_ino, stat.st_mtime_ns)
    cached = _loaded
    if cached is not None and cached[0] == key:
        return cached[1]
    with _loaded_lock:
        if _loaded is not None and _loaded[0] == key:
            return _loaded[1]
        loaded = _load(manifest)
        _loaded = (key, loaded)
        return loaded


def current_index_forget() -> None:
    """Drop the mapped build (tests; a worker otherwise follows the manifest by itself)."""
    global _loaded
    with _loaded_lock:
        _loaded = None


def _load(manifest: Path) -> LoadedIndex | None:
    try:
        described = json.loads(manifest.read_text())
        build_id = str(described["build"])
    except (OSError, ValueError, KeyError):
        logger.warning("matching index: unreadable manifest, searching exactly until rebuilt")
        return None
    # A manifest left by a database since recreated (tests, a restore) names a build this one
    # never made; its snapshot would say nothing about this database's rows.
    if not SearchIndexBuild.objects.filter(pk=build_id).exists():
        return None
    snapshot = str(described["snapshot"])
    if not SNAPSHOT_FORMAT.fullmatch(snapshot):  # it is written into SQL (changed_since_sql)
        logger.warning("matching index: build %s has a malformed snapshot, ignored", build_id)
        return None
    views = {}
    try:
        for entry in described["files"]:
            path = manifest.parent / entry["file"]
            views[(entry["model_name"], int(entry["key_version"]))] = AnnIndexView(path)
    except (OSError, ValueError, RuntimeError):
        # A build pruned between reading the manifest and mapping its files: the next search
        # finds the newer manifest.
        logger.warning("matching index: build %s unreadable, searching exactly", build_id)
        return None
    return LoadedIndex(build_id=build_id, snapshot=snapshot, views=views)


def _distance_sql() -> str:
    """The Euclidean distance between row ``t`` and the query parameter, exact either way."""
    if uses_pgvector():
        return "t.embedding <-> %s::vector"
    return (
        "sqrt((SELECT sum((a - b) * (a - b)) FROM unnest(t.embedding::double precision[], "
        "%s::double precision[]) AS u(a, b)))"
    )


def _query_param(rotated: np.ndarray) -> Any:
    if uses_pgvector():
        return vector_literal(rotated)
    return rotated.astype(np.float64).tolist()


def memory_search(
    probe: VersionProbe,
    *,
    max_distance: float | None,
    exact_fallback: Callable[[], list[Hit]],
) -> list[Hit]:
    """The ``probe.limit`` nearest opted-out templates of candidates, for one key version;
    ``exact_fallback`` runs the exact scan when the index's pools cannot answer."""
    loaded = current_index()
    view = loaded.views.get((probe.model_name, probe.version)) if loaded is not None else None
    for pool in (max(probe.limit, POOL), max(probe.limit, WIDE_POOL)):
        keys, covers = _index_pool(view, probe.rotated, pool, max_distance)
        if max_distance is not None:
            # The index's distances are its vectors' exact ones, and a row's vector changes
            # only with a change the delta reads: a key beyond the distance cannot become a hit
            # through the re-check, so only the near ones are sent (a few, not the pool).
            # (The margin covers float32 against PostgreSQL's arithmetic; the caller's filter
            # on the re-checked distance is exact.)
            keys = [key for key, near in keys if near <= max_distance + DISTANCE_MARGIN]
        else:
            keys = [key for key, _near in keys]
        hits, allowed_from_index = _recheck(probe, keys, loaded)
        # Enough of the index's own candidates survived, or none beyond the pool matter.
        if allowed_from_index >= probe.limit or covers:
            return hits
    return exact_fallback()


def _index_pool(
    view: AnnIndexView | None, rotated: np.ndarray, pool: int, max_distance: float | None
) -> tuple[list[tuple[int, float]], bool]:
    """The index's ``pool`` nearest (key, distance) pairs, and whether every indexed template within
    ``max_distance`` is among them: the pool is the whole index, or it is full and reaches past
    that distance. A short pool from a graph proves nothing about what it did not reach."""
    if view is None:
        return [], True
    found = view.search(rotated, pool, breadth=max(BREADTH, pool))
    keys = list(zip(found.keys.tolist(), found.distances.tolist(), strict=True))
    if len(keys) >= view.size:
        return keys, True
    reach = keys[-1][1] if keys else None
    covers = (
        len(keys) >= pool
        and max_distance is not None
        and reach is not None
        and reach > max_distance
    )
    return keys, covers


def _fetch_prepared(sql: str, params: list[Any]) -> list[tuple]:
    """Run ``sql`` on Django's connection as a prepared statement and return its rows.

    Planning this statement costs several times its execution (0.8 ms against 0.1 ms on 300,000
    templates, docs/benchmarks.md): prepared once per connection, PostgreSQL reuses the plan.
    Django's cursors bind parameters client-side, which cannot prepare, so this one statement
    uses psycopg's own cursor on the same connection (and transaction).
    """
    connection.ensure_connection()
    raw = connection.connection
    if raw.prepare_threshold is None:
        # Django turns preparing off (its cursors could not use it anyway); asking for it per
        # statement needs it on. Only cursors like this one, binding server-side, ever prepare.
        raw.prepare_threshold = PREPARE_THRESHOLD
    with connection.wrap_database_errors, psycopg.Cursor(raw) as cursor:
        _generic_plans(cursor, raw)
        cursor.execute(sql, params, prepare=True)
        return cursor.fetchall()


_generic_plans_set: weakref.WeakSet[Any] = weakref.WeakSet()


def _generic_plans(cursor: psycopg.Cursor, raw: Any) -> None:
    """Make PostgreSQL keep one plan for the prepared statement instead of planning each run.

    Left to itself it re-plans every execution (its generic plan's estimate, made without the
    candidate ids, looks dearer than the custom ones), which is the cost preparing was meant to
    save: measured 2.35 against 1.43 ms of database CPU per API check. Only prepared statements
    are affected, and on Django's connections only this one is prepared. Set once per
    persistent connection; inside a transaction only for it (a rollback would undo a session
    setting behind our back).
    """
    if connection.in_atomic_block:
        cursor.execute("SELECT set_config('plan_cache_mode', 'force_generic_plan', true)")
    elif raw not in _generic_plans_set:
        cursor.execute("SELECT set_config('plan_cache_mode', 'force_generic_plan', false)")
        _generic_plans_set.add(raw)


def _recheck(
    probe: VersionProbe, keys: list[int], loaded: LoadedIndex | None
) -> tuple[list[Hit], int]:
    """One statement: the index's keys re-checked against their rows, plus the exact delta.

    Returns the nearest ``probe.limit`` allowed hits and how many of the index's keys were
    allowed.
    """
    distance = _distance_sql()
    query = _query_param(probe.rotated)
    candidate = f"AND {probe.filter_sql}" if probe.filter_sql else ""
    # With no build, every opted-out template is "changed": the delta is the exact search.
    changed = f"AND {changed_since_sql(loaded.snapshot)}" if loaded is not None else ""
    rows = _fetch_prepared(
        f"""
            WITH pool AS (
                SELECT t.id, t.person_id, {distance} AS distance
                FROM {TEMPLATE_TABLE} t
                WHERE t.id = ANY(%s::bigint[]) AND t.opted_out
                  AND t.key_version = %s AND t.model_name = %s
            ), delta AS MATERIALIZED (
                SELECT t.id, t.person_id, {distance} AS distance
                FROM {TEMPLATE_TABLE} t
                WHERE t.opted_out AND t.key_version = %s AND t.model_name = %s
                {changed} {candidate}
            )
            SELECT p.id, p.person_id, p.distance, {probe.probe_sql} AS allowed, true AS pooled
            FROM pool p
            UNION ALL
            SELECT * FROM (
                SELECT d.id, d.person_id, d.distance, true, false
                FROM delta d ORDER BY d.distance, d.id LIMIT %s
            ) nearest_changed
            """,  # noqa: S608 - the table name and filters are ours, values are parameters
        # MATERIALIZED: the delta's distances are computed and sorted, never read through
        # an approximate vector index (which would answer ORDER BY distance LIMIT).
        [
            query,
            keys,
            probe.version,
            probe.model_name,
            query,
            probe.version,
            probe.model_name,
            *probe.filter_params,
            *probe.filter_params,
            probe.limit,
        ],
    )
    nearest: dict[int, tuple] = {}
    allowed_from_index = 0
    for template_id, person_id, dist, allowed, pooled in rows:
        if not allowed:
            continue
        allowed_from_index += 1 if pooled else 0
        nearest[template_id] = Hit(template_id, person_id, float(dist))
    ordered = sorted(nearest.values(), key=lambda hit: (hit.distance, hit.template_id))
    return ordered[: probe.limit], allowed_from_index
