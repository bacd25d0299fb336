"""The embedded PostgreSQL is sized for the search index at first start, once."""

from __future__ import annotations

import psycopg
import pytest

from registry.lib import embedded_db


@pytest.mark.slow
def test_first_start_sizes_shared_buffers_and_later_starts_keep_it(tmp_path):
    data_dir = tmp_path / "pgdata"
    try:
        database = embedded_db.ensure_running(data_dir)
        with psycopg.connect(dbname=database.name, user=database.user, host=database.host) as conn:
            shown = conn.execute("SHOW shared_buffers").fetchone()[0]
            pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
            assert pid
        expected_mb = embedded_db.shared_buffers_mb()
        assert 128 <= expected_mb <= embedded_db.MAX_SHARED_BUFFERS_MB
        assert shown in {f"{expected_mb}MB", f"{expected_mb // 1024}GB"}

        # A later start reuses the running server: no second restart.
        started = (data_dir / "postmaster.pid").read_text().splitlines()[0]
        embedded_db.ensure_running(data_dir)
        assert (data_dir / "postmaster.pid").read_text().splitlines()[0] == started

        # A value an operator set by hand is kept.
        with psycopg.connect(
            dbname="postgres", user=database.user, host=database.host, autocommit=True
        ) as conn:
            conn.execute("ALTER SYSTEM SET shared_buffers = '160MB'")
        embedded_db.stop(data_dir)
        database = embedded_db.ensure_running(data_dir)
        with psycopg.connect(dbname=database.name, user=database.user, host=database.host) as conn:
            assert conn.execute("SHOW shared_buffers").fetchone()[0] == "160MB"
    finally:
        embedded_db.stop(data_dir)
