import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("engagement", "0009_birthday_growth"),
        ("members", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="engagementsettings",
            name="checkin_reminder_channel",
            field=models.CharField(
                choices=[("wecom", "企业微信（由专属导购群发）"), ("sms", "短信")],
                default="wecom",
                max_length=8,
                verbose_name="提醒渠道",
            ),
        ),
        # A brand that already reminds its members keeps the channel it had (SMS, the only one
        # before); WeCom is the default for brands that switch reminders on from now on.
        migrations.RunSQL(
            [
                "UPDATE engagement_engagementsettings SET checkin_reminder_channel = 'sms' WHERE checkin_reminder_enabled"
            ],
            migrations.RunSQL.noop,
        ),
        migrations.AlterField(
            model_name="engagementsettings",
            name="checkin_reminder_enabled",
            field=models.BooleanField(
                default=False,
                help_text="只发给自己开启了提醒、且同意该渠道营销消息的会员；当天已签到的不发。",
                verbose_name="签到提醒",
            ),
        ),
        migrations.RenameField(model_name="checkinreminder", old_name="mobile", new_name="address"),
        migrations.AlterField(
            model_name="checkinreminder",
            name="address",
            field=models.CharField(blank=True, max_length=64, verbose_name="接收账号"),
        ),
        migrations.AddField(
            model_name="checkinreminder",
            name="channel",
            field=models.CharField(
                choices=[("wecom", "企业微信（由专属导购群发）"), ("sms", "短信")],
                default="sms",
                max_length=8,
                verbose_name="渠道",
            ),
        ),
        migrations.AddField(
            model_name="checkinreminder",
            name="staff",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="members.staff",
                verbose_name="发送导购",
            ),
        ),
        migrations.AddField(
            model_name="checkinreminder",
            name="provider_msgid",
            field=models.CharField(blank=True, max_length=64, verbose_name="渠道消息号"),
        ),
        migrations.AlterField(
            model_name="checkinreminder",
            name="error",
            field=models.CharField(blank=True, max_length=255, verbose_name="未发送原因"),
        ),
        migrations.AlterField(
            model_name="checkinreminder",
            name="status",
            field=models.CharField(
                choices=[
                    ("queued", "待发送"),
                    ("sending", "发送中"),
                    ("sent", "已发送"),
                    ("skipped", "未发送"),
                    ("failed", "发送失败"),
                ],
                default="queued",
                max_length=8,
                verbose_name="状态",
            ),
        ),
        migrations.AlterModelOptions(
            name="checkinreminder",
            options={"verbose_name": "签到提醒记录", "verbose_name_plural": "签到提醒记录"},
        ),
        migrations.CreateModel(
            name="ReferralExport",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("created_at", models.DateTimeField(auto_now_add=True, verbose_name="创建时间")),
                ("updated_at", models.DateTimeField(auto_now=True, verbose_name="更新时间")),
                ("requested_by", models.CharField(max_length=150, verbose_name="申请人")),
                (
                    "status",
                    models.CharField(
                        choices=[("queued", "排队中"), ("running", "生成中"), ("done", "已完成"), ("failed", "失败")],
                        default="queued",
                        max_length=16,
                        verbose_name="状态",
                    ),
                ),
                ("rows", models.PositiveIntegerField(default=0, verbose_name="行数")),
                ("content", models.BinaryField(default=b"", verbose_name="文件内容")),
                ("error", models.TextField(blank=True, verbose_name="失败原因")),
                ("finished_at", models.DateTimeField(blank=True, null=True, verbose_name="完成时间")),
                (
                    "file_format",
                    models.CharField(
                        choices=[("csv", "CSV"), ("xlsx", "XLSX")], default="xlsx", max_length=4, verbose_name="格式"
                    ),
                ),
                ("full_pi", models.BooleanField(default=False, verbose_name="含完整个人信息")),
                ("joined_from", models.DateField(blank=True, null=True, verbose_name="入会日期自")),
                ("joined_to", models.DateField(blank=True, null=True, verbose_name="入会日期至")),
                ("referrer_no", models.CharField(blank=True, max_length=20, verbose_name="邀请人会员号")),
                ("referrals_total", models.PositiveIntegerField(default=0, verbose_name="邀请记录总数")),
                ("referrals_done", models.PositiveIntegerField(default=0, verbose_name="已导出记录数")),
                (
                    "campaign",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="engagement.referralcampaign",
                        verbose_name="活动",
                    ),
                ),
            ],
            options={
                "verbose_name": "邀请关系导出",
                "verbose_name_plural": "邀请关系导出",
                "ordering": ["-created_at"],
            },
        ),
    ]
