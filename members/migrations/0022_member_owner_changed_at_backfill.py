"""members_member.owner_changed_at / owner_changed_to for the assignment history written before
migration 0021's trigger: 10,000 members a statement, each statement committed on its own (a
non-atomic migration), so that no member row stays locked longer than its batch — one statement for
every member of a large brand held its rows for minutes (2M members with a history: 111 s on the
2-core bench machine), and their orders would have waited as long (docs/deploy.md).

A batch locks the members it writes, those with a history, in id order first, as the order ingest
and every service lock members (in another order the two could deadlock), and writes only rows
still NULL: a change committed
meanwhile has had its trigger write the pair, and the batch skips that row on the re-check instead
of writing what its older snapshot knew. The columns are read only once performance 0015 exists,
which depends on this migration: a brand whose backfill stopped half way (it resumes where rows are
still NULL) is decided as before, from the history."""

from django.db import migrations

BATCH = 10_000

BACKFILL_SQL = """
WITH locked AS (
    SELECT m.id, h.created_at, h.to_staff_id
    FROM members_member m JOIN (
        SELECT DISTINCT ON (a.member_id) a.member_id, a.created_at, a.to_staff_id FROM members_memberassignment a
        WHERE a.member_id > %s AND a.member_id <= %s ORDER BY a.member_id, a.created_at DESC, a.id DESC
    ) h ON h.member_id = m.id
    WHERE m.id > %s AND m.id <= %s AND m.owner_changed_at IS NULL
    ORDER BY m.id FOR NO KEY UPDATE OF m
)
UPDATE members_member m SET owner_changed_at = locked.created_at, owner_changed_to = locked.to_staff_id
FROM locked WHERE m.id = locked.id AND m.owner_changed_at IS NULL
"""


def backfill(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT COALESCE(max(member_id), 0) FROM members_memberassignment")
        (top,) = cursor.fetchone()
        for low in range(0, top, BATCH):
            cursor.execute(BACKFILL_SQL, [low, low + BATCH, low, low + BATCH])


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("members", "0021_member_owner_changed_at")]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop, elidable=True)]
