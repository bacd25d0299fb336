"""One indexed template per person: the HNSW index holds each person's most central template.

With every template in the index, a person's few near-identical templates crowd each other's
neighbour lists and the graph reaches some people badly: on a million synthetic templates recall@1
for fresh photos of enrolled people stayed at ~0.988 even with m=32 and ef_search=100
(docs/benchmarks.md, search). The index now holds one "representative" per person and key
version (a partial index), and the search compares all templates of the people it finds exactly.

Existing rows: the representative of each (person, key version) is the template whose largest
distance to the others is smallest, as ``registry.services.templates_representatives_refresh``
chooses it.
"""

from django.db import migrations, models

from registry.db import vector_extension_installed

TABLE = "registry_facetemplate"


def choose_representatives(apps, schema_editor):
    connection = schema_editor.connection
    if vector_extension_installed(connection):
        distance = "a.embedding <-> b.embedding"
    else:
        distance = (
            "(SELECT sqrt(sum((x - y) * (x - y))) FROM unnest(a.embedding, b.embedding) u(x, y))"
        )
    schema_editor.execute(
        f"""
        UPDATE {TABLE} t SET representative = (t.id = chosen.id)
        FROM (
            SELECT DISTINCT ON (a.person_id, a.key_version) a.person_id, a.key_version, a.id
            FROM {TABLE} a JOIN {TABLE} b
              ON b.person_id = a.person_id AND b.key_version = a.key_version
            GROUP BY a.person_id, a.key_version, a.id
            ORDER BY a.person_id, a.key_version, max({distance}), a.id
        ) chosen
        WHERE t.person_id = chosen.person_id AND t.key_version = chosen.key_version
          AND t.representative <> (t.id = chosen.id)
        """  # noqa: S608 - constant SQL
    )


def index_representatives(apps, schema_editor):
    # The old index goes first: updating rows it holds would add an entry per updated row.
    schema_editor.execute("DROP INDEX IF EXISTS template_embedding_hnsw")
    choose_representatives(apps, schema_editor)
    if vector_extension_installed(schema_editor.connection):
        # The default 64 MB does not hold the graph of a few hundred thousand people: the build
        # would go to disk and take tens of minutes instead of about one.
        schema_editor.execute("SET LOCAL maintenance_work_mem = '1GB'")
        schema_editor.execute(
            f"CREATE INDEX template_embedding_hnsw ON {TABLE} "
            "USING hnsw (embedding vector_l2_ops) WITH (m = 16, ef_construction = 64) "
            "WHERE representative"
        )


def index_every_template(apps, schema_editor):
    schema_editor.execute("DROP INDEX IF EXISTS template_embedding_hnsw")
    if vector_extension_installed(schema_editor.connection):
        schema_editor.execute(
            f"CREATE INDEX template_embedding_hnsw ON {TABLE} "
            "USING hnsw (embedding vector_l2_ops) WITH (m = 16, ef_construction = 64)"
        )


class Migration(migrations.Migration):
    dependencies = [("registry", "0004_template_hnsw_index")]

    operations = [
        migrations.AddField(
            model_name="facetemplate",
            name="representative",
            field=models.BooleanField(default=True),
        ),
        migrations.RunPython(index_representatives, index_every_template),
    ]
