"""The member's newest owner change on the member row: members_member.owner_changed_at, the time of
the newest row of their assignment history, and owner_changed_to, that row's to_staff (both NULL:
no history). With them, the order ingest knows the owner when an order was paid from the member row
it locks anyway: for an order paid at or after that time it is owner_changed_to (with no history,
assigned_staff), and only an order paid before it (a late-posted one) needs the history. The pair
is the history's own answer — its newest row by (created_at, id) — not assigned_staff, so it agrees
with the history whoever wrote which (performance 0015; bench/README.md, "Staff performance",
session 20).

Database columns, not model fields: a trigger on the history keeps them, whoever writes the history
(the services, a merge, an import, a test that backdates a change), and no Django `save()` of a
member read before the change can put older values back. Nothing but the order ingest reads them.

The trigger locks the member row first and only then reads the history, in a statement of its own:
under READ COMMITTED that statement's snapshot sees every change committed before the lock was
granted, so two transactions changing one member's owner cannot leave the older change behind. A
row moved between members locks both in id order, as every service locks members.

Instant (nullable columns, a trigger; the ALTER waits at most 10 s for its lock, then fails and
`migrate_brands` retries the brand): the next migration fills them in for the history written
before, in batches."""

from django.db import migrations

TRIGGER_FUNCTION_SQL = """
CREATE FUNCTION members_owner_changed_keep() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
    v_member bigint;
    v_at timestamptz;
    v_to bigint;
BEGIN
    FOREACH v_member IN ARRAY CASE TG_OP
        WHEN 'INSERT' THEN ARRAY[NEW.member_id]
        WHEN 'DELETE' THEN ARRAY[OLD.member_id]
        ELSE ARRAY[LEAST(NEW.member_id, OLD.member_id), GREATEST(NEW.member_id, OLD.member_id)] END
    LOOP
        PERFORM 1 FROM members_member WHERE id = v_member FOR NO KEY UPDATE;
        SELECT a.created_at, a.to_staff_id INTO v_at, v_to FROM members_memberassignment a
        WHERE a.member_id = v_member ORDER BY a.created_at DESC, a.id DESC LIMIT 1;  -- no row: NULL, NULL
        UPDATE members_member SET owner_changed_at = v_at, owner_changed_to = v_to
        WHERE id = v_member AND (owner_changed_at, owner_changed_to) IS DISTINCT FROM (v_at, v_to);
    END LOOP;
    RETURN NULL;
END
$fn$
"""

TRIGGER_SQL = """
CREATE TRIGGER members_memberassignment_owner_changed
AFTER INSERT OR DELETE OR UPDATE OF member_id, created_at, to_staff_id ON members_memberassignment
FOR EACH ROW EXECUTE FUNCTION members_owner_changed_keep()
"""


class Migration(migrations.Migration):
    dependencies = [("members", "0020_assignment_history_index")]

    operations = [
        migrations.RunSQL(
            [
                "SET LOCAL lock_timeout = '10s'",
                "ALTER TABLE members_member ADD COLUMN owner_changed_at timestamptz, ADD COLUMN owner_changed_to bigint",
                TRIGGER_FUNCTION_SQL,
                TRIGGER_SQL,
            ],
            [
                "DROP TRIGGER members_memberassignment_owner_changed ON members_memberassignment",
                "DROP FUNCTION members_owner_changed_keep()",
                "ALTER TABLE members_member DROP COLUMN owner_changed_at, DROP COLUMN owner_changed_to",
            ],
        )
    ]
