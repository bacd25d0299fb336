"""The embedded PostgreSQL (with pgvector) used when no DATABASE_URL is given.

`pgserver` ships PostgreSQL 16 binaries with pgvector as a wheel. The server is started
once per data directory and reused by every later process (web, worker, tests): it listens on a
Unix socket inside the data directory only, so it never competes for a TCP port. It keeps
running until `stop()` (``make db-stop``) shuts it down cleanly with a fast shutdown.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

DATABASE_NAME = "registry"


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
    info = server.get_postmaster_info()
    database = EmbeddedDatabase(
        name=DATABASE_NAME, user="postgres", host=str(info.socket_dir), port=info.port or 5432
    )
    _ensure_database(database)
    return database


def _ensure_database(database: EmbeddedDatabase) -> None:
    import psycopg

    with psycopg.connect(
        dbname="postgres",
        user=database.user,
        host=database.host,
        port=database.port,
        autocommit=True,
    ) as conn:
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
