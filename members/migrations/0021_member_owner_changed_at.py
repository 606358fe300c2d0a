"""members_member.owner_changed_at: when the member's 专属导购 last changed — the time of the newest
row of their assignment history; NULL when they have none (the owner has not changed since they
were enrolled). With it, the order ingest knows the owner when an order was paid from the member
row it locks anyway: for an order paid at or after that time it is the member's current owner, and
only an order paid before it (a late-posted one) needs the history (performance 0015; bench/README.md,
"Staff performance", session 20).

A database column, not a model field: a trigger on the history keeps it, whoever writes the history
(the services, a merge, an import, a test that backdates a change), and no Django `save()` of a
member read before the change can put an older value back. Nothing but the order ingest reads it.

The trigger locks the member row first and only then reads the history, in a statement of its own:
under READ COMMITTED that statement's snapshot sees every change committed before the lock was
granted, so two transactions changing one member's owner cannot leave the older time behind.
Instant (a nullable column, a trigger): the next migration fills it in for the history written
before, in batches."""

from django.db import migrations

TRIGGER_FUNCTION_SQL = """
CREATE FUNCTION members_owner_changed_at_keep() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
    v_member bigint;
BEGIN
    FOREACH v_member IN ARRAY CASE TG_OP
        WHEN 'INSERT' THEN ARRAY[NEW.member_id]
        WHEN 'DELETE' THEN ARRAY[OLD.member_id]
        ELSE ARRAY[NEW.member_id, OLD.member_id] END
    LOOP
        PERFORM 1 FROM members_member WHERE id = v_member FOR NO KEY UPDATE;
        UPDATE members_member m
        SET owner_changed_at = (SELECT max(a.created_at) FROM members_memberassignment a WHERE a.member_id = v_member)
        WHERE m.id = v_member;
    END LOOP;
    RETURN NULL;
END
$fn$
"""

TRIGGER_SQL = """
CREATE TRIGGER members_memberassignment_owner_changed_at
AFTER INSERT OR DELETE OR UPDATE OF member_id, created_at ON members_memberassignment
FOR EACH ROW EXECUTE FUNCTION members_owner_changed_at_keep()
"""


class Migration(migrations.Migration):
    dependencies = [("members", "0020_assignment_history_index")]

    operations = [
        migrations.RunSQL(
            [
                "ALTER TABLE members_member ADD COLUMN owner_changed_at timestamptz",
                TRIGGER_FUNCTION_SQL,
                TRIGGER_SQL,
            ],
            [
                "DROP TRIGGER members_memberassignment_owner_changed_at ON members_memberassignment",
                "DROP FUNCTION members_owner_changed_at_keep()",
                "ALTER TABLE members_member DROP COLUMN owner_changed_at",
            ],
        )
    ]
