"""HNSW index for nearest-template search, where pgvector exists.

Without pgvector the embedding column is ``double precision[]`` and search is exact, so there is
nothing to index. L2 distance because face_recognition's threshold is Euclidean. The parameters
are pgvector's defaults; see docs/benchmarks.md (search) for what larger ones cost to build.
"""

from django.db import migrations

from registry.db import vector_extension_installed


def create_index(apps, schema_editor):
    if vector_extension_installed(schema_editor.connection):
        schema_editor.execute(
            "CREATE INDEX IF NOT EXISTS template_embedding_hnsw ON registry_facetemplate "
            "USING hnsw (embedding vector_l2_ops) WITH (m = 16, ef_construction = 64)"
        )


def drop_index(apps, schema_editor):
    schema_editor.execute("DROP INDEX IF EXISTS template_embedding_hnsw")


class Migration(migrations.Migration):
    dependencies = [("registry", "0003_attestation_record")]

    operations = [migrations.RunPython(create_index, drop_index)]
