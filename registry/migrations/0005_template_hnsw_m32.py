"""Rebuild the HNSW index with m = 32 (ef_construction 64): twice the links per node.

On 1,000,000 synthetic templates (docs/benchmarks.md, search) pgvector's defaults, m = 16, left
the checks' filtered search agreeing with the exact search on only 0.90 of queries with a
candidate in the review band; m = 32 agrees on 0.99, and the unfiltered recall@1 at the same
query time rises from 0.88 to 0.96 (ef_search 64). The build takes about twice as long.

The build gets 1 GB of maintenance_work_mem, which holds the graph of about 700,000 templates at
m = 32; beyond that pgvector continues on disk, many times slower (a million templates: over 30
minutes instead of 9). With more templates, build the index by hand with more memory first
(docs/benchmarks.md, search) -- the migration keeps an index of that name and parameters.
"""

from django.db import migrations

from registry.db import vector_extension_installed

TABLE = "registry_facetemplate"


def _rebuild(schema_editor, m: int) -> None:
    if not vector_extension_installed(schema_editor.connection):
        return  # exact search over double precision[]: no index (0004 made none)
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'template_embedding_hnsw'"
        )
        existing = cursor.fetchone()
    if existing and f"m='{m}', ef_construction='64'" in existing[0]:
        return  # already built (by hand, with more memory)
    schema_editor.execute("DROP INDEX IF EXISTS template_embedding_hnsw")
    # The default 64 MB would send the graph of a large table to disk: tens of minutes.
    schema_editor.execute("SET LOCAL maintenance_work_mem = '1GB'")
    schema_editor.execute(
        f"CREATE INDEX template_embedding_hnsw ON {TABLE} "
        f"USING hnsw (embedding vector_l2_ops) WITH (m = {m}, ef_construction = 64)"
    )


def forwards(apps, schema_editor):
    _rebuild(schema_editor, 32)


def backwards(apps, schema_editor):
    _rebuild(schema_editor, 16)


class Migration(migrations.Migration):
    dependencies = [("registry", "0004_template_hnsw_index")]

    operations = [migrations.RunPython(forwards, backwards)]
