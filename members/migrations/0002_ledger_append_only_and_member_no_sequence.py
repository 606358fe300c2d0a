"""The points ledger is append-only at the database level, and member numbers come from a
sequence (gap-tolerant, never reused, safe under concurrency)."""

from django.db import migrations

APPEND_ONLY = """
CREATE FUNCTION members_refuse_ledger_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'points ledger is append-only: % on members_pointsentry refused', TG_OP
        USING ERRCODE = 'restrict_violation';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER members_pointsentry_no_update_delete
    BEFORE UPDATE OR DELETE ON members_pointsentry
    FOR EACH ROW EXECUTE FUNCTION members_refuse_ledger_change();

CREATE TRIGGER members_pointsentry_no_truncate
    BEFORE TRUNCATE ON members_pointsentry
    FOR EACH STATEMENT EXECUTE FUNCTION members_refuse_ledger_change();
"""

DROP_APPEND_ONLY = """
DROP TRIGGER IF EXISTS members_pointsentry_no_truncate ON members_pointsentry;
DROP TRIGGER IF EXISTS members_pointsentry_no_update_delete ON members_pointsentry;
DROP FUNCTION IF EXISTS members_refuse_ledger_change();
"""


class Migration(migrations.Migration):
    dependencies = [("members", "0001_initial")]

    operations = [
        migrations.RunSQL(APPEND_ONLY, DROP_APPEND_ONLY),
        migrations.RunSQL(
            "CREATE SEQUENCE members_member_no_seq START 10000001",
            "DROP SEQUENCE IF EXISTS members_member_no_seq",
        ),
    ]
