"""The growth-value ledger is append-only in the database, like the points ledger: a correction
is a new entry, never an edit."""

from django.db import migrations

from crm.db.guards import AppendOnly


class Migration(migrations.Migration):
    dependencies = [("engagement", "0001_initial")]

    operations = [AppendOnly("engagement_growthentry")]
