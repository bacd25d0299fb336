"""Mark every face template with the transaction that last changed it (``change_xid``).

The checks' in-memory index (``matching.selectors.memory_index``) is built from one snapshot
of the opted-out templates. A template inserted, flagged, re-protected or moved to another model
after that snapshot must still be found on the very next check, so the search also compares,
exactly and in PostgreSQL, every opted-out template whose last change the build's snapshot could
not see: ``NOT pg_visible_in_snapshot(change_xid, snapshot)``. A transaction id is the only
marker that is exact here: a sequence number is handed out before its transaction commits, so a
build could record a watermark above a row it never saw.

The column is PostgreSQL's alone (no model field): inserts take the default, and a trigger
renews it on every update of the columns the index holds or filters on, whichever code path
makes the change (the ORM, ``bulk_update``, raw SQL). The btree index keeps the delta query, and
the count of changes that decides a rebuild (unflagged templates included), to the rows changed
since the build.
"""

from django.db import migrations

TABLE = "registry_facetemplate"

FORWARD = f"""
ALTER TABLE {TABLE} ADD COLUMN change_xid xid8 NOT NULL DEFAULT pg_current_xact_id();

CREATE FUNCTION registry_facetemplate_change_mark() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.change_xid := pg_current_xact_id();
    RETURN NEW;
END
$$;

CREATE TRIGGER registry_facetemplate_change_mark
BEFORE UPDATE OF embedding, opted_out, key_version, model_name, person_id ON {TABLE}
FOR EACH ROW EXECUTE FUNCTION registry_facetemplate_change_mark();

CREATE INDEX template_change_xid_idx ON {TABLE} (change_xid);
"""

BACKWARD = f"""
DROP INDEX IF EXISTS template_change_xid_idx;
DROP TRIGGER IF EXISTS registry_facetemplate_change_mark ON {TABLE};
DROP FUNCTION IF EXISTS registry_facetemplate_change_mark();
ALTER TABLE {TABLE} DROP COLUMN IF EXISTS change_xid;
"""


class Migration(migrations.Migration):
    dependencies = [("registry", "0010_person_registration_status_dispute")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
