"""PostgreSQL feature detection and the embedding column type.

pgvector is used when the server has it (the embedded default always does); any other
PostgreSQL still works, with embeddings in ``double precision[]`` and an exact search. The
column type is therefore decided when the migration runs, from what the database offers.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from django.db import connection, connections, models
from django.db.backends.base.base import BaseDatabaseWrapper


def vector_extension_available(connection: BaseDatabaseWrapper) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")
        return cursor.fetchone() is not None


def vector_extension_installed(connection: BaseDatabaseWrapper) -> bool:
    cache = getattr(connection, "_registry_vector_installed", None)
    if cache is not None:
        return cache
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'")
        installed = cursor.fetchone() is not None
    # Cached per connection object: the extension is created by the first migration and never
    # dropped while the application runs.
    connection._registry_vector_installed = installed
    return installed


def vector_extension_version(connection: BaseDatabaseWrapper) -> str | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        row = cursor.fetchone()
    return row[0] if row else None


def create_vector_extension_if_available(apps: Any, schema_editor: Any) -> None:
    connection = schema_editor.connection
    if vector_extension_available(connection):
        schema_editor.execute("CREATE EXTENSION IF NOT EXISTS vector")
    connection._registry_vector_installed = None


def uses_pgvector(using: str = "default") -> bool:
    return vector_extension_installed(connections[using])


class EmbeddingField(models.Field):
    """A fixed-length float vector: ``vector(n)`` with pgvector, ``double precision[]`` without.

    Python values are float32 numpy arrays.
    """

    description = "Embedding vector"

    def __init__(self, *args: Any, dimensions: int, **kwargs: Any) -> None:
        self.dimensions = dimensions
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs["dimensions"] = self.dimensions
        return name, path, args, kwargs

    def db_type(self, connection: BaseDatabaseWrapper) -> str:
        if vector_extension_installed(connection):
            return f"vector({self.dimensions})"
        return "double precision[]"

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> np.ndarray | None:
        return self.to_python(value)

    def to_python(self, value: Any) -> np.ndarray | None:
        if value is None or isinstance(value, np.ndarray):
            return value
        if isinstance(value, str):  # pgvector's text form: "[0.1,0.2,...]"
            value = [float(x) for x in value.strip("[]").split(",") if x]
        return np.asarray(value, dtype=np.float32)

    def get_db_prep_value(self, value: Any, connection: Any, prepared: bool = False) -> Any:
        if value is None:
            return None
        array = np.asarray(value, dtype=np.float64).ravel()
        if array.shape != (self.dimensions,):
            raise ValueError(f"expected {self.dimensions} dimensions, got {array.shape[0]}")
        if vector_extension_installed(connection):
            return vector_literal(array)
        return array.tolist()


def vector_literal(vector: Any) -> str:
    """pgvector's text input form, usable as a ``%s::vector`` query parameter."""
    return "[" + ",".join(repr(float(x)) for x in np.asarray(vector).ravel()) + "]"


def model_from_row(model: type[models.Model], fields, values) -> models.Model:
    """A ``model`` instance from raw column values of ``fields`` (in that order), converted as the
    ORM would (``from_db_value``): for hot paths that read a row with one plain SQL statement."""
    converted = [
        field.from_db_value(value, None, connection) if hasattr(field, "from_db_value") else value
        for field, value in zip(fields, values, strict=True)
    ]
    return model.from_db(connection.alias, [field.attname for field in fields], converted)
