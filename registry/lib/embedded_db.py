"""The embedded PostgreSQL (with pgvector) used when no DATABASE_URL is given.

`pgserver` ships PostgreSQL 16 binaries with pgvector as a wheel. The server is started
once per data directory and reused by every later process (web, worker, tests): it listens on a
Unix socket inside the data directory only, so it never competes for a TCP port. It keeps
running until `stop()` (``make db-stop``) shuts it down cleanly with a fast shutdown.

initdb's defaults size shared_buffers for a tiny machine (128 MB): a search index of a million
templates (~800 MB) would then be read through the operating system's cache page by page on every
query. The server is given an eighth of the machine's memory (at most 2 GB) once, at first start,
with ``ALTER SYSTEM`` and a restart; a value set by hand in ``postgresql.auto.conf`` is kept.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

DATABASE_NAME = "registry"
MAX_SHARED_BUFFERS_MB = 2048


@dataclass(frozen=True)
class EmbeddedDatabase:
    name: str
    user: str
    host: str
    port: int


def _import_pgserver(data_dir: Path):
    # pgserver keeps its lock file in XDG_RUNTIME_DIR, read at import time; give it a private
    # directory beside the data rather than a world-writable one.
    runtime_dir = data_dir.parent / "run"
    runtime_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime_dir))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver
    return pgserver


def _server(data_dir: Path):
    pgserver = _import_pgserver(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    # cleanup_mode=None: this process does not own the server; it outlives us and is reused.
    return pgserver.get_server(str(data_dir), cleanup_mode=None)


def ensure_running(data_dir: Path) -> EmbeddedDatabase:
    server = _server(data_dir)
    if not (data_dir / "postmaster.pid").exists():
        # Stopped (``stop()``) since this process first started it: pgserver's handle is reused.
        _start(server)
    database = _database(server)
    if _tune_memory(database, data_dir):
        stop(data_dir)
        _start(server)
        database = _database(server)
    _ensure_database(database)
    return database


def _start(server) -> None:
    with server._lock:
        server.ensure_postgres_running()


def _database(server) -> EmbeddedDatabase:
    info = server.get_postmaster_info()
    return EmbeddedDatabase(
        name=DATABASE_NAME, user="postgres", host=str(info.socket_dir), port=info.port or 5432
    )


def shared_buffers_mb() -> int:
    """An eighth of the machine's memory, between 128 MB and ``MAX_SHARED_BUFFERS_MB``."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1 << 20)
    except (ValueError, OSError):
        return 128
    return max(128, min(MAX_SHARED_BUFFERS_MB, total // 8))


def _tune_memory(database: EmbeddedDatabase, data_dir: Path) -> bool:
    """Set shared_buffers once (first start); True when a restart is needed to apply it."""
    auto_conf = data_dir / "postgresql.auto.conf"
    if auto_conf.exists() and "shared_buffers" in auto_conf.read_text():
        return False
    with _maintenance_connection(database) as conn:
        conn.execute(f"ALTER SYSTEM SET shared_buffers = '{shared_buffers_mb()}MB'")
    return True


def _maintenance_connection(database: EmbeddedDatabase):
    """An autocommit connection to the server's ``postgres`` database."""
    import psycopg

    return psycopg.connect(
        dbname="postgres",
        user=database.user,
        host=database.host,
        port=database.port,
        autocommit=True,
    )


def _ensure_database(database: EmbeddedDatabase) -> None:
    with _maintenance_connection(database) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [database.name]
        ).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{database.name}"')


def stop(data_dir: Path) -> bool:
    """Stop the server cleanly; returns False when none was running."""
    if not (data_dir / "postmaster.pid").exists():
        return False
    _import_pgserver(data_dir)
    from pgserver._commands import pg_ctl

    user = "pgserver" if os.geteuid() == 0 else None
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=data_dir, user=user)
    return True
