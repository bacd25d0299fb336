"""Celery tasks of the registry app: thin wrappers that take ids and call a service."""

from __future__ import annotations

from celery import shared_task
from django.db import connection


@shared_task(name="registry.diagnostics_ping", ignore_result=False)
def diagnostics_ping(token: str) -> dict[str, str]:
    """Round trip used by health diagnostics and tests: proves a worker reaches the database."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_database()")
        database = cursor.fetchone()[0]
    return {"token": token, "database": database}
