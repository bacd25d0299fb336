"""Building the checks' in-memory index and swapping it in (``MATCHING_INDEX=memory``).

A build reads every opted-out template under one PostgreSQL snapshot, taken first: a template
whose last change that snapshot saw is read by the statements after it (visibility only grows),
and any later change carries a transaction id the snapshot cannot see, so the search compares it
exactly (``matching.selectors.memory_index``). No lock on the table is needed and checks go on
during a build. Files are written under new names; the manifest is replaced atomically last, so
a worker sees the old build or the new one, never a mixture. The build before the current one
is kept for workers that mapped it a moment ago; older ones are deleted.

One build at a time per database (a PostgreSQL advisory lock): the refresh task and the command
may both ask for one.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db import connection
from django.utils import timezone
from psycopg import sql

from matching.lib.ann_index import ann_index_build
from matching.models import SearchIndexBuild
from matching.selectors.memory_index import (
    MANIFEST,
    TEMPLATE_TABLE,
    changed_since_sql,
    index_directory,
)
from registry.models import FaceTemplate

logger = logging.getLogger(__name__)

# pg_try_advisory_lock's key for "an index build is running" (any constant unique in the app).
BUILD_LOCK = 0x4C52_4958  # "LRIX"
# PostgreSQL's binary COPY: an 11-byte signature, flags and header-extension length.
_COPY_HEADER = 19


def search_index_build() -> SearchIndexBuild | None:
    """Build the index from the opted-out templates as they stand and make it current.

    Returns the build, or None when another build holds the lock.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [BUILD_LOCK])
        if not cursor.fetchone()[0]:
            return None
    try:
        return _build()
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [BUILD_LOCK])


def search_index_refresh() -> str:
    """Rebuild when due (the periodic task); see ``search_index_state`` for when."""
    if settings.MATCHING_INDEX != "memory":
        return "not used (MATCHING_INDEX=pgvector)"
    reason = search_index_state().due
    if reason is None:
        return "fresh"
    build = search_index_build()
    if build is None:
        return "another build is running"
    return f"rebuilt ({reason}): {build.templates} templates in {build.seconds:.1f} s"


@dataclass(frozen=True, slots=True)
class SearchIndexState:
    """The latest build (None before the first), the templates changed since it (None without
    a build), and why a rebuild is due now (None when it is not)."""

    build: SearchIndexBuild | None
    changed_since: int | None
    due: str | None


def search_index_state() -> SearchIndexState:
    """The index as the refresh task, ``/healthz`` and the command see it, read once.

    A rebuild is due when there is no build (or no manifest here) while templates are opted
    out, when more than ``MATCHING_INDEX_REBUILD_CHANGES`` templates changed since the build
    (each is compared exactly on every check until then), or when the build is older than
    ``MATCHING_INDEX_MAX_AGE_S`` (erased templates linger in it as entries every check
    re-checks and drops).
    """
    latest = SearchIndexBuild.objects.order_by("-built_at").first()
    changed = search_index_changes(latest) if latest is not None else None
    if latest is None or not (index_directory() / MANIFEST).exists():
        due = "no index yet" if FaceTemplate.objects.filter(opted_out=True).exists() else None
    elif timezone.now() - latest.built_at > timedelta(seconds=settings.MATCHING_INDEX_MAX_AGE_S):
        due = "scheduled"
    elif changed >= settings.MATCHING_INDEX_REBUILD_CHANGES:
        due = f"{changed} templates changed"
    else:
        due = None
    return SearchIndexState(build=latest, changed_since=changed, due=due)


def search_index_changes(build: SearchIndexBuild) -> int:
    """Templates changed since ``build`` read them (flagged, unflagged, added, re-protected)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FROM {TEMPLATE_TABLE} t WHERE {changed_since_sql(build.snapshot)}"  # noqa: S608
        )
        return int(cursor.fetchone()[0])


def _build() -> SearchIndexBuild:
    started = time.perf_counter()
    directory = index_directory()
    directory.mkdir(parents=True, exist_ok=True)
    with connection.cursor() as cursor:
        # First: every row read below was seen by this snapshot or is newer than it.
        cursor.execute("SELECT pg_current_snapshot()::text")
        snapshot = cursor.fetchone()[0]
        cursor.execute(
            f"""
            SELECT model_name, key_version FROM {TEMPLATE_TABLE}
            WHERE opted_out GROUP BY model_name, key_version ORDER BY 1, 2
            """  # noqa: S608
        )
        groups = cursor.fetchall()
    build = SearchIndexBuild(snapshot=snapshot, templates=0, file_bytes=0, seconds=0.0)
    files = []
    for model_name, key_version in groups:
        ids, vectors = _opted_out_vectors(model_name, key_version)
        if not len(ids):
            continue  # unflagged between the two statements
        name = f"{build.id.hex}-{_slug(model_name)}-v{key_version}.faiss"
        build.file_bytes += ann_index_build(directory / name, ids, vectors)
        build.templates += len(ids)
        files.append(
            {
                "model_name": model_name,
                "key_version": key_version,
                "file": name,
                "count": len(ids),
                "dimensions": int(vectors.shape[1]),
            }
        )
    build.files = files
    build.seconds = round(time.perf_counter() - started, 3)
    # Saved (committed, outside a transaction) before the manifest names it: a worker maps a
    # build only when it finds its row.
    build.save()
    _manifest_replace(directory, build)
    _prune(directory, keep={build.id.hex, *_previous_build_ids(build)})
    logger.info(
        "matching index built: %d templates, %d files, %.1f s",
        build.templates,
        len(files),
        build.seconds,
    )
    return build


def _opted_out_vectors(model_name: str, key_version: int) -> tuple[np.ndarray, np.ndarray]:
    """Ids and protected vectors of one model's opted-out templates under one key version,
    read with a binary COPY (a tenth of the time of fetching rows on a million templates)."""
    condition = sql.SQL("opted_out AND model_name = {} AND key_version = {}").format(
        sql.Literal(model_name), sql.Literal(key_version)
    )
    table = sql.Identifier(TEMPLATE_TABLE)
    with connection.cursor() as cursor:
        cursor.execute(
            sql.SQL("SELECT array_length(embedding::real[], 1) FROM {} WHERE {} LIMIT 1")
            .format(table, condition)
            .as_string(cursor.connection)
        )
        row = cursor.fetchone()
        if row is None:
            return np.empty(0, np.int64), np.empty((0, 0), np.float32)
        dimensions = int(row[0])
        statement = sql.SQL(
            "COPY (SELECT id, embedding::real[] FROM {} WHERE {}) TO STDOUT (FORMAT BINARY)"
        ).format(table, condition)
        data = bytearray()
        with cursor.copy(statement) as copy:
            for block in copy:
                data += block
    record = _copy_record(dimensions)
    # Every row has the same size (one bigint, one array of ``dimensions`` non-null reals);
    # the stream ends with a two-byte trailer.
    rows = (len(data) - _COPY_HEADER - 2) // record.itemsize
    records = np.frombuffer(data, dtype=record, offset=_COPY_HEADER, count=rows)
    ids = records["id"].astype(np.int64)
    vectors = records["values"]["value"].astype(np.float32)
    return ids, vectors


def _copy_record(dimensions: int) -> np.dtype:
    """One row of the binary COPY of ``(id bigint, embedding real[])``, all big-endian: the
    field count, each field's length, and the array's header before its (length, value) pairs."""
    return np.dtype(
        [
            ("fields", ">i2"),
            ("id_length", ">i4"),
            ("id", ">i8"),
            ("array_length", ">i4"),
            ("array_ndim", ">i4"),
            ("array_flags", ">i4"),
            ("array_type", ">i4"),
            ("array_size", ">i4"),
            ("array_lower", ">i4"),
            ("values", [("length", ">i4"), ("value", ">f4")], (dimensions,)),
        ]
    )


def _slug(model_name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", model_name)[:60]


def _manifest_replace(directory: Path, build: SearchIndexBuild) -> None:
    manifest = {
        "build": build.id.hex,
        "built_at": build.built_at.isoformat(),
        "snapshot": build.snapshot,
        "files": build.files,
    }
    partial = directory / f"{MANIFEST}.{build.id.hex}.partial"
    partial.write_text(json.dumps(manifest, indent=2))
    os.replace(partial, directory / MANIFEST)


def _previous_build_ids(build: SearchIndexBuild) -> list[str]:
    previous = (
        SearchIndexBuild.objects.exclude(pk=build.pk).order_by("-built_at").values_list("pk")[:1]
    )
    return [pk.hex for (pk,) in previous]


def _prune(directory: Path, *, keep: set[str]) -> None:
    """Delete the files of builds other than ``keep``; a worker still mapping one keeps its
    mapping (the file's pages stay until the last mapping goes)."""
    for path in directory.iterdir():
        if path.name.startswith(MANIFEST):
            continue
        if path.name.split("-", 1)[0] not in keep:
            path.unlink(missing_ok=True)
    SearchIndexBuild.objects.filter(built_at__lt=timezone.now() - timedelta(days=30)).delete()


__all__ = [
    "SearchIndexState",
    "search_index_build",
    "search_index_changes",
    "search_index_refresh",
    "search_index_state",
]
