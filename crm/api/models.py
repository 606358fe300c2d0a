"""Partner API data in the brand's schema: partners, their API keys and stored idempotent
responses (webhook subscriptions and deliveries: webhooks/models.py). Nothing here is visible
from another brand: every row lives in the brand's own schema."""

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
    # Coupons (coupons/apis.py): reads — validate (a dry run), a member's coupons; writes — issue,
    # redeem (write-off), roll a write-off back.
    COUPONS_READ = "coupons:read", _("读取优惠券")
    COUPONS_WRITE = "coupons:write", _("发放与核销优惠券")


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
