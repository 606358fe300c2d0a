"""Partner webhooks in the brand's schema: subscriptions and the delivery log brand admins read.

The tables keep the names they had when these models lived in the partner API's app (label
`api`): moving the models was a change of Django's state only (migrations/0001_initial.py),
so stored subscriptions and deliveries are the same rows, and the constraint names stay too."""

import uuid

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils.translation import gettext_lazy as _

from crm.api.models import Partner
from crm.base_models import TimeStampedModel


class WebhookEvent(models.TextChoices):
    MEMBER_ENROLLED = "member.enrolled", _("会员入会")
    MEMBER_TIER_CHANGED = "member.tier_changed", _("会员等级变化")
    POINTS_CHANGED = "points.changed", _("积分变化")
    CONSENT_WITHDRAWN = "consent.withdrawn", _("撤回授权")
    COUPON_ISSUED = "coupon.issued", _("优惠券发放")
    COUPON_REDEEMED = "coupon.redeemed", _("优惠券核销")
    COUPON_RETURNED = "coupon.returned", _("优惠券退回")


class WebhookSubscription(TimeStampedModel):
    """Where a partner wants events delivered. The secret signs every delivery; it is shown to
    the partner once (when created) and kept in clear here because signing needs it."""

    public_id = models.UUIDField(_("编号"), default=uuid.uuid4, unique=True, editable=False)
    partner = models.ForeignKey(
        Partner, on_delete=models.PROTECT, related_name="webhook_subscriptions", verbose_name=_("合作方")
    )
    url = models.URLField(_("回调地址"), max_length=500)
    events = ArrayField(models.CharField(max_length=40, choices=WebhookEvent.choices), verbose_name=_("事件"))
    secret = models.CharField(_("签名密钥"), max_length=100)
    deleted_at = models.DateTimeField(_("删除时间"), null=True, blank=True)

    class Meta:
        db_table = "api_webhooksubscription"  # the table of the app these rows were born in (label api)
        verbose_name = _("Webhook 订阅")
        verbose_name_plural = _("Webhook 订阅")
        ordering = ["-created_at"]
        constraints = [models.CheckConstraint(condition=~models.Q(events=[]), name="api_webhook_events_not_empty")]

    def __str__(self) -> str:
        return f"{self.partner} → {self.url}"


class WebhookDelivery(TimeStampedModel):
    """One event for one subscription, and how its delivery went (the log brand admins read)."""

    class Status(models.TextChoices):
        PENDING = "pending", _("待发送")
        SUCCEEDED = "succeeded", _("已送达")
        FAILED = "failed", _("已放弃")

    subscription = models.ForeignKey(
        WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries", verbose_name=_("订阅")
    )
    # Sent as X-CRM-Delivery: a receiver that sees the same id twice (at-least-once) ignores it.
    event_id = models.UUIDField(_("事件编号"), default=uuid.uuid4, editable=False)
    event = models.CharField(_("事件"), max_length=40, choices=WebhookEvent.choices)
    payload = models.JSONField(_("内容"))
    status = models.CharField(_("状态"), max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(_("尝试次数"), default=0)
    last_status_code = models.PositiveSmallIntegerField(_("最近响应码"), null=True, blank=True)
    last_error = models.TextField(_("最近错误"), blank=True)
    next_retry_at = models.DateTimeField(_("下次重试"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("送达时间"), null=True, blank=True)

    class Meta:
        db_table = "api_webhookdelivery"  # the table of the app these rows were born in (label api)
        verbose_name = _("Webhook 投递")
        verbose_name_plural = _("Webhook 投递")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["subscription", "event_id"], name="api_webhook_delivery_event_uniq")
        ]
        indexes = [models.Index(fields=["status", "created_at"], name="api_webhook_delivery_status")]

    def __str__(self) -> str:
        return f"{self.event} → {self.subscription_id} ({self.status})"
