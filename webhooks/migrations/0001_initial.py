# Webhook subscriptions and deliveries move here from the partner API's app (label `api`).
# State only: the tables api_webhooksubscription and api_webhookdelivery stay as they are, with
# their rows, constraints and index (Django's recipe for moving a model between apps); api's
# 0002 removes the models from its own state once they exist here.

import django.contrib.postgres.fields
import django.db.models.deletion
import uuid
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('api', '0001_initial'),
    ]

    state_operations = [
        migrations.CreateModel(
            name='WebhookSubscription',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('created_at', models.DateTimeField(auto_now_add=True, verbose_name='创建时间')),
                ('updated_at', models.DateTimeField(auto_now=True, verbose_name='更新时间')),
                ('public_id', models.UUIDField(default=uuid.uuid4, editable=False, unique=True, verbose_name='编号')),
                ('url', models.URLField(max_length=500, verbose_name='回调地址')),
                ('events', django.contrib.postgres.fields.ArrayField(base_field=models.CharField(choices=[('member.enrolled', '会员入会'), ('member.tier_changed', '会员等级变化'), ('points.changed', '积分变化'), ('consent.withdrawn', '撤回授权')], max_length=40), size=None, verbose_name='事件')),
                ('secret', models.CharField(max_length=100, verbose_name='签名密钥')),
                ('deleted_at', models.DateTimeField(blank=True, null=True, verbose_name='删除时间')),
                ('partner', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='webhook_subscriptions', to='api.partner', verbose_name='合作方')),
            ],
            options={
                'verbose_name': 'Webhook 订阅',
                'verbose_name_plural': 'Webhook 订阅',
                'db_table': 'api_webhooksubscription',
                'ordering': ['-created_at'],
                'constraints': [models.CheckConstraint(condition=models.Q(('events', []), _negated=True), name='api_webhook_events_not_empty')],
            },
        ),
        migrations.CreateModel(
            name='WebhookDelivery',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('created_at', models.DateTimeField(auto_now_add=True, verbose_name='创建时间')),
                ('updated_at', models.DateTimeField(auto_now=True, verbose_name='更新时间')),
                ('event_id', models.UUIDField(default=uuid.uuid4, editable=False, verbose_name='事件编号')),
                ('event', models.CharField(choices=[('member.enrolled', '会员入会'), ('member.tier_changed', '会员等级变化'), ('points.changed', '积分变化'), ('consent.withdrawn', '撤回授权')], max_length=40, verbose_name='事件')),
                ('payload', models.JSONField(verbose_name='内容')),
                ('status', models.CharField(choices=[('pending', '待发送'), ('succeeded', '已送达'), ('failed', '已放弃')], default='pending', max_length=16, verbose_name='状态')),
                ('attempts', models.PositiveSmallIntegerField(default=0, verbose_name='尝试次数')),
                ('last_status_code', models.PositiveSmallIntegerField(blank=True, null=True, verbose_name='最近响应码')),
                ('last_error', models.TextField(blank=True, verbose_name='最近错误')),
                ('next_retry_at', models.DateTimeField(blank=True, null=True, verbose_name='下次重试')),
                ('delivered_at', models.DateTimeField(blank=True, null=True, verbose_name='送达时间')),
                ('subscription', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='deliveries', to='webhooks.webhooksubscription', verbose_name='订阅')),
            ],
            options={
                'verbose_name': 'Webhook 投递',
                'verbose_name_plural': 'Webhook 投递',
                'db_table': 'api_webhookdelivery',
                'ordering': ['-created_at'],
                'indexes': [models.Index(fields=['status', 'created_at'], name='api_webhook_delivery_status')],
                'constraints': [models.UniqueConstraint(fields=('subscription', 'event_id'), name='api_webhook_delivery_event_uniq')],
            },
        ),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=state_operations, database_operations=[]),
    ]
