"""Flag the templates of people with an active opt-out and index only those for checks.

Checks look only for people whose active opt-out covers the use asked about. Searching the
index of every template and filtering afterwards made each check ask for 100 nearest templates
(ef_search 100) so that enough candidates survived the filter; a partial index over the opted-out
people's templates answers with the candidates themselves (docs/benchmarks.md, search and checks
API). ``opted_out`` is kept in step with the consent records by
``consent.services.templates_optout_sync`` (which sets it through
``registry.services.templates_optout_flag_set``); here it is filled from the records as they
stand.
"""

from django.db import migrations, models

from registry.db import vector_extension_installed

TABLE = "registry_facetemplate"


def fill_flags(apps, schema_editor):
    schema_editor.execute(
        f"""
        UPDATE {TABLE} t SET opted_out = true
        WHERE EXISTS (
            SELECT 1 FROM consent_record r
            WHERE r.person_id = t.person_id AND r.kind = 'optout' AND r.revoked_at IS NULL
        )
        """  # noqa: S608 - our own table names
    )


def create_index(apps, schema_editor):
    if not vector_extension_installed(schema_editor.connection):
        return  # exact search over double precision[]: no index
    # The default 64 MB would send the graph of a large table to disk (see 0005).
    schema_editor.execute("SET LOCAL maintenance_work_mem = '1GB'")
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS template_optout_hnsw ON {TABLE} "
        "USING hnsw (embedding vector_l2_ops) WITH (m = 32, ef_construction = 64) "
        "WHERE opted_out"
    )


def drop_index(apps, schema_editor):
    schema_editor.execute("DROP INDEX IF EXISTS template_optout_hnsw")


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0005_template_hnsw_m32"),
        ("consent", "0002_records_requests_checks_webhooks"),
    ]

    operations = [
        migrations.AddField(
            model_name="facetemplate",
            name="opted_out",
            field=models.BooleanField(db_default=False, default=False),
        ),
        migrations.RunPython(fill_flags, migrations.RunPython.noop),
        migrations.RunPython(create_index, drop_index),
    ]
