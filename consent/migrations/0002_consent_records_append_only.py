"""Consent records are proof: the database refuses to change or delete them."""

from django.db import migrations

from crm.db.guards import AppendOnly


class Migration(migrations.Migration):
    dependencies = [("consent", "0001_initial")]

    operations = [AppendOnly("consent_consentrecord")]
