"""members_member.owner_changed_at for the assignment history written before migration 0021's
trigger: 10,000 members a statement, each statement committed on its own (a non-atomic
migration), so that no member row stays locked longer than its batch — one statement for every
member of a large brand held its rows for minutes (2M members with a history: 111 s on the
2-core bench machine), and their orders would have waited as long (docs/deploy.md).

A batch writes only rows still NULL. A change committed meanwhile has had its trigger write the
time, and the batch's UPDATE, waiting for that row, skips it on the re-check instead of writing the
time its older snapshot knew. The column is read only once performance 0015 exists, which depends
on this migration: a brand whose backfill stopped half way (it resumes where rows are still NULL)
is decided as before, from the history."""

from django.db import migrations

BATCH = 10_000

BACKFILL_SQL = """
UPDATE members_member m SET owner_changed_at = h.changed_at
FROM (
    SELECT member_id, max(created_at) AS changed_at FROM members_memberassignment
    WHERE member_id > %s AND member_id <= %s GROUP BY member_id
) h
WHERE m.id = h.member_id AND m.owner_changed_at IS NULL
"""


def backfill(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT COALESCE(max(member_id), 0) FROM members_memberassignment")
        (top,) = cursor.fetchone()
        for low in range(0, top, BATCH):
            cursor.execute(BACKFILL_SQL, [low, low + BATCH])


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("members", "0021_member_owner_changed_at")]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop, elidable=True)]
