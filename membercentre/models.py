"""The member centre's own rows: rotating member codes and who resolved them, SMS one-time codes,
and the brand's WeChat official account for web authorisation. Members, points, consent live in
their apps; this app shows them to the member."""

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from crm.base_models import TimeStampedModel
from members.models import Member


class MemberCode(models.Model):
    """One issued member code (会员码). Only a keyed digest of the code is stored: a copy of the
    table does not hand out live codes. Rows older than a day are purged (the audit of who
    resolved which member is MemberCodeResolution, which does not point here)."""

    member = models.ForeignKey(Member, verbose_name=_("会员"), on_delete=models.PROTECT, related_name="+")
    digest = models.CharField(_("摘要"), max_length=64, unique=True)
    issued_at = models.DateTimeField(_("生成时间"))
    expires_at = models.DateTimeField(_("失效时间"))
    consumed_at = models.DateTimeField(_("使用时间"), null=True, blank=True)
    consumed_for = models.CharField(_("用途"), max_length=100, blank=True)

    class Meta:
        verbose_name = _("会员码")
        verbose_name_plural = _("会员码")
        constraints = [
            models.CheckConstraint(condition=Q(expires_at__gt=F("issued_at")), name="membercode_expiry_after_issue"),
        ]
        indexes = [models.Index(fields=["expires_at"], name="membercode_expires_idx")]

    def __str__(self) -> str:
        return f"{self.member_id} · {self.issued_at:%Y-%m-%d %H:%M:%S}"


class MemberCodeResolution(models.Model):
    """Audit: who resolved which member's code, when, through what, and what for. Append-only."""

    class Via(models.TextChoices):
        API = "api", _("合作方接口")
        WORKBENCH = "workbench", _("门店工作台")

    class Purpose(models.TextChoices):
        IDENTIFY = "identify", _("识别会员")
        CONSUME = "consume", _("核销/兑换（一次性）")

    member = models.ForeignKey(Member, verbose_name=_("会员"), on_delete=models.PROTECT, related_name="+")
    via = models.CharField(_("渠道"), max_length=16, choices=Via.choices)
    purpose = models.CharField(_("用途"), max_length=16, choices=Purpose.choices)
    actor = models.CharField(_("操作人"), max_length=150)
    reference = models.CharField(_("业务单号"), max_length=100, blank=True)
    resolved_at = models.DateTimeField(_("时间"), db_index=True)

    class Meta:
        verbose_name = _("会员码识别记录")
        verbose_name_plural = _("会员码识别记录")
        indexes = [models.Index(fields=["member", "-resolved_at"], name="membercode_res_member_idx")]

    def __str__(self) -> str:
        return f"{self.actor} → {self.member_id} ({self.resolved_at:%Y-%m-%d %H:%M:%S})"


class OtpChallenge(models.Model):
    """An SMS one-time code sent to a mobile. Only its digest is stored; `attempts` is raised by
    a conditional UPDATE before each comparison, so parallel guesses are counted one by one."""

    mobile = models.CharField(_("手机号"), max_length=20, db_index=True)
    digest = models.CharField(_("摘要"), max_length=64)
    ip = models.CharField(_("IP"), max_length=45, blank=True)
    created_at = models.DateTimeField(_("发送时间"))
    expires_at = models.DateTimeField(_("失效时间"))
    attempts = models.PositiveSmallIntegerField(_("尝试次数"), default=0)
    consumed_at = models.DateTimeField(_("验证时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("短信验证码")
        verbose_name_plural = _("短信验证码")

    def __str__(self) -> str:
        return f"{self.mobile[:3]}****{self.mobile[-4:]} · {self.created_at:%Y-%m-%d %H:%M}"


class WechatOAuthConfig(TimeStampedModel):
    """The brand's WeChat official account (服务号) used for web authorisation (网页授权) on the
    member centre. One row per brand schema."""

    class Scope(models.TextChoices):
        BASE = "snsapi_base", _("静默授权（snsapi_base，仅 OpenID）")
        USERINFO = "snsapi_userinfo", _("用户确认授权（snsapi_userinfo，含昵称与 UnionID）")

    singleton = models.BooleanField(default=True, unique=True, editable=False)
    enabled = models.BooleanField(_("启用微信登录"), default=True)
    app_id = models.CharField(_("公众号 AppID"), max_length=64)
    secret_encrypted = models.TextField(_("AppSecret（已加密）"), editable=False)
    scope = models.CharField(_("授权方式"), max_length=20, choices=Scope.choices, default=Scope.BASE)
    authorize_url = models.URLField(
        _("授权页地址"),
        default="https://open.weixin.qq.com/connect/oauth2/authorize",
        help_text=_("测试和演示时指向模拟服务器"),
    )
    api_base_url = models.URLField(
        _("接口地址"), default="https://api.weixin.qq.com/", help_text=_("测试和演示时指向模拟服务器")
    )
    # The brand's mini-program, for getPhoneNumber (phonenumber.getuserphonenumber needs the
    # mini-program's own access token). Optional: without it the phone exchange is refused.
    miniprogram_app_id = models.CharField(_("小程序 AppID"), max_length=64, blank=True)
    miniprogram_secret_encrypted = models.TextField(_("小程序 AppSecret（已加密）"), blank=True, editable=False)

    class Meta:
        verbose_name = _("微信网页授权配置")
        verbose_name_plural = _("微信网页授权配置")

    def __str__(self) -> str:
        return self.app_id

    def secret_set(self, secret: str) -> None:
        from wecom.models import secret_cipher

        self.secret_encrypted = secret_cipher().encrypt(secret.encode()).decode()

    def secret(self) -> str:
        from wecom.models import secret_cipher

        return secret_cipher().decrypt(self.secret_encrypted.encode()).decode()

    def miniprogram_secret_set(self, secret: str) -> None:
        from wecom.models import secret_cipher

        self.miniprogram_secret_encrypted = secret_cipher().encrypt(secret.encode()).decode()

    def miniprogram_secret(self) -> str:
        from wecom.models import secret_cipher

        return secret_cipher().decrypt(self.miniprogram_secret_encrypted.encode()).decode()
