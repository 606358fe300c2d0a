"""The assignment history indexed by (member, newest first): the member's history page and the
attribution's "owner when the order was paid" (performance 0009) read it in that order and stop at
the first row. It replaces the plain member_id index of the foreign key (which it covers)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("members", "0019_field_labels_in_chinese")]

    operations = [
        migrations.AddIndex(
            model_name="memberassignment",
            index=models.Index(fields=["member", "-created_at", "-id"], name="member_assign_recent"),
        ),
        migrations.AlterField(
            model_name="memberassignment",
            name="member",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="assignments",
                to="members.member",
            ),
        ),
    ]
