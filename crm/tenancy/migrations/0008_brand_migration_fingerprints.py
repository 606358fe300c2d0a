"""Per-brand fingerprints of the applied migration state, so that a deploy migrates only the brands
whose state differs from the code's (`migrate_brands`, docs/scale-out.md)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("tenancy", "0007_brand_cell")]

    operations = [
        migrations.AddField(
            model_name="brand",
            name="migrations_fingerprint",
            field=models.CharField(blank=True, editable=False, max_length=64),
        ),
        migrations.AddField(
            model_name="brand",
            name="models_fingerprint",
            field=models.CharField(blank=True, editable=False, max_length=64),
        ),
    ]
