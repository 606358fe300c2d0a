from django.db import migrations, models


class Migration(migrations.Migration):
    """The birthday job reads one release day's grants per member chunk (points, coupons)."""

    dependencies = [
        ("engagement", "0005_birthday_change_audit"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="birthdaygrant",
            index=models.Index(fields=["release_date", "benefit", "member"], name="birthday_grant_release_day"),
        ),
    ]
