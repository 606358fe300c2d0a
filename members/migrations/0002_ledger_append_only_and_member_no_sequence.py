"""The points ledger is append-only at the database level, and member numbers come from a
sequence (gap-tolerant, never reused, safe under concurrency)."""

from django.db import migrations

from crm.db.guards import AppendOnly


class Migration(migrations.Migration):
    dependencies = [("members", "0001_initial")]

    operations = [
        AppendOnly("members_pointsentry"),
        migrations.RunSQL(
            ["CREATE SEQUENCE members_member_no_seq START 10000001"],
            ["DROP SEQUENCE IF EXISTS members_member_no_seq"],
        ),
    ]
