"""The HNSW index that nearest-template search uses (``matching.selectors.faces_nearest``).

Only where pgvector is installed; without it embeddings are ``double precision[]`` and search is
an exact scan, so there is nothing to index.
"""

from django.db import migrations

from registry.db import vector_extension_installed

INDEX = "template_embedding_hnsw"


def create_index(apps, schema_editor):
    if vector_extension_installed(schema_editor.connection):
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {INDEX} ON registry_facetemplate "
            "USING hnsw (embedding vector_l2_ops)"
        )


def drop_index(apps, schema_editor):
    schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("registry", "0002_core")]

    operations = [migrations.RunPython(create_index, drop_index)]
