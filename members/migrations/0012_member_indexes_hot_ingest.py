from django.db import migrations, models

# Django's automatic index names for members_member (deterministic: table + column hash), the same
# in every brand schema.
_PLAIN_KEPT = {
    "mobile": "members_member_mobile_fd5bdb2f",
    "status": "members_member_status_0d2ab2b9",
    "lifecycle_stage": "members_member_lifecycle_stage_a6ff3f6c",
}
_NEW_NAME = {"mobile": "member_mobile", "status": "member_status", "lifecycle_stage": "member_lifecycle_stage"}

# Dropped (issue 3, order ingest performance; each of them is written on every non-HOT update of a
# member row, and every order updates its buyer's row):
# - last_purchase_at: moved by every order, so with this index no order's member UPDATE could be
#   HOT (PostgreSQL only updates in place when no indexed column changes). Its one filter, the
#   campaign audience's recency criterion (campaigns/selectors.py), is one condition on a pass over
#   the brand's members; nothing sorts by it (admin shows it on the detail page only).
# - source (+ _like): no query filters or sorts by it; the dashboard groups it in a full pass.
# - the varchar_pattern_ops `_like` twins of mobile, status and lifecycle_stage: only LIKE
#   'prefix%' uses them, and these columns are only ever compared for equality (mobile by the
#   search box's normalised number, the choice fields by admin filters and audiences). The plain
#   btree indexes stay, renamed to the names Meta.indexes gives them (no rebuild).
# member_no keeps its `_like` index: the search box matches member number prefixes.
_DROPPED = [
    "members_member_last_purchase_at_596f0fb4",
    "members_member_source_f732511d",
    "members_member_source_f732511d_like",
    "members_member_mobile_fd5bdb2f_like",
    "members_member_status_0d2ab2b9_like",
    "members_member_lifecycle_stage_a6ff3f6c_like",
]

_FORWARD = [
    *(f'DROP INDEX IF EXISTS "{name}"' for name in _DROPPED),
    *(f'ALTER INDEX IF EXISTS "{old}" RENAME TO "{_NEW_NAME[col]}"' for col, old in _PLAIN_KEPT.items()),
    # A schema whose index had another name still ends up with the index Meta declares.
    *(f'CREATE INDEX IF NOT EXISTS "{_NEW_NAME[col]}" ON members_member ("{col}")' for col in _PLAIN_KEPT),
]
_BACKWARD = [
    *(f'ALTER INDEX IF EXISTS "{_NEW_NAME[col]}" RENAME TO "{old}"' for col, old in _PLAIN_KEPT.items()),
    'CREATE INDEX IF NOT EXISTS "members_member_last_purchase_at_596f0fb4" ON members_member (last_purchase_at)',
    'CREATE INDEX IF NOT EXISTS "members_member_source_f732511d" ON members_member (source)',
    *(
        f'CREATE INDEX IF NOT EXISTS "{old}_like" ON members_member ("{col}" varchar_pattern_ops)'
        for col, old in {**_PLAIN_KEPT, "source": "members_member_source_f732511d"}.items()
    ),
]


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0011_member_fillfactor_50"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunSQL(_FORWARD, reverse_sql=_BACKWARD)],
            state_operations=[
                migrations.AlterField(
                    model_name="member",
                    name="last_purchase_at",
                    field=models.DateTimeField(blank=True, null=True, verbose_name="最近购买"),
                ),
                migrations.AlterField(
                    model_name="member",
                    name="lifecycle_stage",
                    field=models.CharField(
                        choices=[
                            ("awareness", "认知"),
                            ("interest", "兴趣"),
                            ("purchase", "购买"),
                            ("loyalty", "忠诚"),
                        ],
                        default="interest",
                        max_length=16,
                        verbose_name="生命周期",
                    ),
                ),
                migrations.AlterField(
                    model_name="member",
                    name="mobile",
                    field=models.CharField(blank=True, max_length=20, verbose_name="手机号"),
                ),
                migrations.AlterField(
                    model_name="member",
                    name="source",
                    field=models.CharField(blank=True, max_length=64, verbose_name="来源"),
                ),
                migrations.AlterField(
                    model_name="member",
                    name="status",
                    field=models.CharField(
                        choices=[("active", "正常"), ("frozen", "冻结"), ("erased", "已删除"), ("merged", "已合并")],
                        default="active",
                        max_length=16,
                        verbose_name="状态",
                    ),
                ),
                migrations.AddIndex(model_name="member", index=models.Index(fields=["mobile"], name="member_mobile")),
                migrations.AddIndex(model_name="member", index=models.Index(fields=["status"], name="member_status")),
                migrations.AddIndex(
                    model_name="member",
                    index=models.Index(fields=["lifecycle_stage"], name="member_lifecycle_stage"),
                ),
            ],
        ),
    ]
