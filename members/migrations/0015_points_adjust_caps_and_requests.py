"""Limits on manual points adjustments that hold over a brand day (issue 21, finding 3): per-role
caps in the loyalty settings, counter rows per (member, day) and (user, day), and the requests
that wait for a brand admin when an adjustment would pass a cap.

A request is the audit record of its decision: the trigger below refuses to delete one, to change
one that is decided, and to change anything but the decision of one that waits — so "who asked,
who approved or rejected, when and why" holds even for code (or psql) that bypasses the service.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('members', '0014_order_member_recent_covering'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='loyaltyprogram',
            name='adjust_hq_per_entry',
            field=models.PositiveIntegerField(blank=True, default=5000, null=True, verbose_name='总部营销：单次上限'),
        ),
        migrations.AddField(
            model_name='loyaltyprogram',
            name='adjust_hq_per_member_day',
            field=models.PositiveIntegerField(blank=True, default=10000, null=True, verbose_name='总部营销：每位会员每日累计上限'),
        ),
        migrations.AddField(
            model_name='loyaltyprogram',
            name='adjust_hq_per_user_day',
            field=models.PositiveIntegerField(blank=True, default=50000, null=True, verbose_name='总部营销：本人每日累计上限'),
        ),
        migrations.AddField(
            model_name='loyaltyprogram',
            name='adjust_manager_per_entry',
            field=models.PositiveIntegerField(blank=True, default=2000, null=True, verbose_name='门店店长：单次上限'),
        ),
        migrations.AddField(
            model_name='loyaltyprogram',
            name='adjust_manager_per_member_day',
            field=models.PositiveIntegerField(blank=True, default=5000, null=True, verbose_name='门店店长：每位会员每日累计上限'),
        ),
        migrations.AddField(
            model_name='loyaltyprogram',
            name='adjust_manager_per_user_day',
            field=models.PositiveIntegerField(blank=True, default=20000, null=True, verbose_name='门店店长：本人每日累计上限'),
        ),
        migrations.AddField(
            model_name='loyaltyprogram',
            name='adjust_staff_per_entry',
            field=models.PositiveIntegerField(blank=True, default=500, null=True, verbose_name='门店导购：单次上限'),
        ),
        migrations.AddField(
            model_name='loyaltyprogram',
            name='adjust_staff_per_member_day',
            field=models.PositiveIntegerField(blank=True, default=1000, null=True, verbose_name='门店导购：每位会员每日累计上限'),
        ),
        migrations.AddField(
            model_name='loyaltyprogram',
            name='adjust_staff_per_user_day',
            field=models.PositiveIntegerField(blank=True, default=3000, null=True, verbose_name='门店导购：本人每日累计上限'),
        ),
        migrations.CreateModel(
            name='PointsAdjustMemberDay',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('biz_date', models.DateField(verbose_name='营业日')),
                ('total', models.BigIntegerField(default=0, verbose_name='累计调整积分')),
                ('member', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='members.member')),
            ],
            options={
                'verbose_name': '会员每日调整累计',
                'verbose_name_plural': '会员每日调整累计',
                'constraints': [models.UniqueConstraint(fields=('member', 'biz_date'), name='points_adjust_member_day_unique'), models.CheckConstraint(condition=models.Q(('total__gte', 0)), name='points_adjust_member_day_not_negative')],
            },
        ),
        migrations.CreateModel(
            name='PointsAdjustRequest',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('created_at', models.DateTimeField(auto_now_add=True, verbose_name='创建时间')),
                ('updated_at', models.DateTimeField(auto_now=True, verbose_name='更新时间')),
                ('points', models.IntegerField(verbose_name='调整积分')),
                ('reason', models.CharField(max_length=255, verbose_name='原因')),
                ('reference', models.CharField(blank=True, max_length=128, verbose_name='关联单据')),
                ('requested_at', models.DateTimeField(verbose_name='申请时间')),
                ('biz_date', models.DateField(verbose_name='营业日')),
                ('exceeded', models.CharField(choices=[('member_day', '会员当日累计超限'), ('user_day', '员工当日累计超限')], max_length=16, verbose_name='超出额度')),
                ('status', models.CharField(choices=[('pending', '待审批'), ('approved', '已批准'), ('rejected', '已驳回')], default='pending', max_length=8, verbose_name='状态')),
                ('decided_at', models.DateTimeField(blank=True, null=True, verbose_name='审批时间')),
                ('decision_reason', models.CharField(blank=True, max_length=255, verbose_name='审批意见')),
                ('decided_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='审批人')),
                ('member', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='points_adjust_requests', to='members.member', verbose_name='会员')),
                ('requested_by', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='申请人')),
            ],
            options={
                'verbose_name': '积分调整申请',
                'verbose_name_plural': '积分调整审批',
                'ordering': ['-requested_at', '-id'],
                'permissions': [('approve_pointsadjustrequest', '审批积分调整申请')],
                'indexes': [models.Index(condition=models.Q(('status', 'pending')), fields=['requested_at'], name='points_adjust_request_queue')],
                'constraints': [models.CheckConstraint(condition=models.Q(('points', 0), _negated=True), name='points_adjust_request_not_zero'), models.CheckConstraint(condition=models.Q(models.Q(('status', 'pending'), ('decided_at__isnull', True), ('decided_by__isnull', True)), models.Q(models.Q(('status', 'pending'), _negated=True), ('decided_at__isnull', False), ('decided_by__isnull', False)), _connector='OR'), name='points_adjust_request_decided_when_not_pending'), models.CheckConstraint(condition=models.Q(models.Q(('status', 'rejected'), _negated=True), models.Q(('decision_reason', ''), _negated=True), _connector='OR'), name='points_adjust_request_rejected_reason'), models.UniqueConstraint(condition=models.Q(('reference', ''), _negated=True), fields=('member', 'reference'), name='points_adjust_request_reference')],
            },
        ),
        migrations.CreateModel(
            name='PointsAdjustUserDay',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('biz_date', models.DateField(verbose_name='营业日')),
                ('total', models.BigIntegerField(default=0, verbose_name='累计调整积分')),
                ('user', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'verbose_name': '员工每日调整累计',
                'verbose_name_plural': '员工每日调整累计',
                'constraints': [models.UniqueConstraint(fields=('user', 'biz_date'), name='points_adjust_user_day_unique'), models.CheckConstraint(condition=models.Q(('total__gte', 0)), name='points_adjust_user_day_not_negative')],
            },
        ),
        migrations.RunSQL(
            sql=[
                """
            CREATE FUNCTION members_pointsadjustrequest_guard() RETURNS trigger AS $$
            BEGIN
                IF TG_OP = 'DELETE' THEN
                    RAISE EXCEPTION 'points adjustment request %: DELETE refused (audit record)', OLD.id
                        USING ERRCODE = 'restrict_violation';
                END IF;
                IF OLD.status <> 'pending' THEN
                    RAISE EXCEPTION 'points adjustment request % is decided (%): UPDATE refused', OLD.id, OLD.status
                        USING ERRCODE = 'restrict_violation';
                END IF;
                IF (NEW.member_id, NEW.points, NEW.reason, NEW.reference, NEW.requested_by_id, NEW.requested_at,
                    NEW.biz_date, NEW.exceeded)
                   IS DISTINCT FROM (OLD.member_id, OLD.points, OLD.reason, OLD.reference, OLD.requested_by_id,
                    OLD.requested_at, OLD.biz_date, OLD.exceeded) THEN
                    RAISE EXCEPTION 'points adjustment request %: only the decision may change', OLD.id
                        USING ERRCODE = 'restrict_violation';
                END IF;
                RETURN NEW;
            END;
            $$ LANGUAGE plpgsql
            """,
                "CREATE TRIGGER members_pointsadjustrequest_guard BEFORE UPDATE OR DELETE ON members_pointsadjustrequest"
                " FOR EACH ROW EXECUTE FUNCTION members_pointsadjustrequest_guard()",
            ],
            reverse_sql=[
                "DROP TRIGGER IF EXISTS members_pointsadjustrequest_guard ON members_pointsadjustrequest",
                "DROP FUNCTION IF EXISTS members_pointsadjustrequest_guard()",
            ],
        ),
    ]
