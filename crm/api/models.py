"""Partner API data in the brand's schema: partners, their API keys, stored idempotent responses,
webhook subscriptions and the webhook delivery log. Nothing here is visible from another brand:
every row lives in the brand's own schema."""

import uuid
from datetime import datetime

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.base_models import TimeStampedModel


class Scope(models.TextChoices):
    MEMBERS_READ = "members:read", _("读取会员")
    MEMBERS_WRITE = "members:write", _("写入会员")
    ORDERS_WRITE = "orders:write", _("写入订单")
    POINTS_WRITE = "points:write", _("写入积分")
    CONSENT_WRITE = "consent:write", _("写入授权")
    DATA_REQUESTS_WRITE = "data-requests:write", _("提交数据主体请求")
    WEBHOOKS_MANAGE = "webhooks:manage", _("管理 Webhook")


class WebhookEvent(models.TextChoices):
    MEMBER_ENROLLED = "member.enrolled", _("会员入会")
    MEMBER_TIER_CHANGED = "member.tier_changed", _("会员等级变化")
    POINTS_CHANGED = "points.changed", _("积分变化")
    CONSENT_WITHDRAWN = "consent.withdrawn", _("撤回授权")


class Partner(TimeStampedModel):
    """A partner system (shop, POS, mini-program). Keys rotate; the partner stays, and owns its
    webhook subscriptions and idempotency keys, so rotating a key loses neither."""

    name = models.CharField(_("合作方名称"), max_length=100, unique=True)

    class Meta:
        verbose_name = _("合作方")
        verbose_name_plural = _("合作方")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ApiKey(TimeStampedModel):
    """A partner's API key. Only the public `prefix` and a SHA-256 of the secret are stored: the
    plaintext `<prefix>.<secret>` is shown once, when the key is created."""

    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="api_keys", verbose_name=_("合作方"))
    prefix = models.CharField(_("前缀"), max_length=16, unique=True)
    secret_hash = models.CharField(_("密钥摘要"), max_length=64)
    scopes = ArrayField(models.CharField(max_length=32, choices=Scope.choices), verbose_name=_("权限范围"))
    expires_at = models.DateTimeField(_("过期时间"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("吊销时间"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("最近使用"), null=True, blank=True)

    class Meta:
        verbose_name = _("API 密钥")
        verbose_name_plural = _("API 密钥")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.partner} · {self.prefix}"

    # DRF treats the authenticated principal as the request's "user".
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def is_expired(self, now: datetime | None = None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or timezone.now())

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


class IdempotencyRecord(models.Model):
    """The first successful response to a POST with an `Idempotency-Key`, replayed byte for byte.

    Inserted in the same transaction as the work it answers for, so it exists exactly when the
    work was committed. Unique per partner and key: partners cannot see each other's keys.
    """

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of method, path and body")
    status_code = models.PositiveSmallIntegerField()
    content_type = models.CharField(max_length=100)
    body = models.BinaryField()
    headers = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["partner", "key"], name="api_idempotency_partner_key_uniq")]

    def __str__(self) -> str:
        return f"{self.partner_id}:{self.key}"


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
        verbose_name = _("Webhook 投递")
        verbose_name_plural = _("Webhook 投递")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["subscription", "event_id"], name="api_webhook_delivery_event_uniq")
        ]
        indexes = [models.Index(fields=["status", "created_at"], name="api_webhook_delivery_status")]

    def __str__(self) -> str:
        return f"{self.event} → {self.subscription_id} ({self.status})"
