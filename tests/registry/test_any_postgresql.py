"""With DATABASE_URL, any PostgreSQL works: without pgvector the registry uses an exact search."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest

REPO = Path(__file__).resolve().parents[2]
SERVER = os.environ.get("TEST_PLAIN_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432")


@pytest.fixture
def plain_postgres_database():
    try:
        admin = psycopg.connect(f"{SERVER}/postgres", autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as error:
        pytest.skip(f"no PostgreSQL answers at {SERVER}: {error}")
    name = f"registry_plain_{uuid.uuid4().hex[:8]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{SERVER}/{name}", admin
    finally:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.close()


@pytest.mark.slow
def test_migrations_and_health_on_a_postgresql_without_pgvector(plain_postgres_database):
    url, admin = plain_postgres_database
    has_vector = admin.execute(
        "SELECT 1 FROM pg_available_extensions WHERE name = 'vector'"
    ).fetchone()
    env = {**os.environ, "DATABASE_URL": url}
    migrate = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert migrate.returncode == 0, migrate.stderr[-3000:]
    health = subprocess.run(
        [sys.executable, "manage.py", "health"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    report = json.loads(health.stdout)
    assert report["checks"]["database"]["ok"] is True
    assert report["checks"]["database"]["embedded"] is False
    assert report["checks"]["pgvector"]["available"] is bool(has_vector)
    if not has_vector:
        assert report["checks"]["pgvector"]["search"] == "exact"
