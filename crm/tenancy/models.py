import re
import zoneinfo
from typing import ClassVar

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator, validate_email
from django.db import models
from django.utils.translation import gettext_lazy as _
from django_tenants.models import DomainMixin, TenantMixin

from crm.base_models import TimeStampedModel

# A brand's slug is its schema name and the first label of its host name, so it must be valid as
# both: lower-case letters and digits, starting with a letter.
SLUG_PATTERN = r"^[a-z][a-z0-9]{1,29}$"
RESERVED_SLUGS = frozenset(
    {"public", "brand_template", "www", "admin", "api", "portal", "static", "information_schema"}
)
slug_validator = RegexValidator(
    SLUG_PATTERN, _("品牌标识只能包含小写字母和数字，以字母开头，2 到 30 个字符。"), code="invalid_slug"
)


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(_("未知的时区：%(tz)s"), code="invalid_time_zone", params={"tz": value})


# A phone number as people write it on a notice: 400-820-1266, (021) 6088 1200, +86 21 6088 1200.
_PHONE = re.compile(r"^\+?[0-9(（][0-9 ()（）-]{3,30}[0-9]$")


def validate_pi_contact(value: str) -> None:
    """One telephone number or one e-mail address, as the membership agreement prints it."""
    if "@" in value:
        validate_email(value)
    elif not _PHONE.match(value) or sum(c.isdigit() for c in value) < 5:
        raise ValidationError(
            _("请填写个人信息保护负责人的电话或邮箱，例如 400-820-1266 或 privacy@example.com。"),
            code="invalid_pi_contact",
        )


class Brand(TenantMixin, TimeStampedModel):
    """A brand: one tenant, one PostgreSQL schema (`schema_name` is the brand's slug).

    The public schema has a Brand row too (django-tenants needs one for the platform host);
    `is_platform` tells it apart.
    """

    name = models.CharField(_("品牌名称"), max_length=100)
    # PIPL art. 17: before processing, the brand (the personal-information processor) tells people
    # its name and how to contact it. The membership agreement is filled from these at
    # provisioning; until they are given the agreement stays a draft and enrolment is refused.
    contact_address = models.CharField(_("联系地址"), max_length=200, blank=True)
    pi_contact = models.CharField(
        _("个人信息保护联系方式"),
        max_length=100,
        blank=True,
        help_text=_("个人信息保护负责人的电话或邮箱，写入会员协议与隐私政策。"),
    )
    time_zone = models.CharField(_("时区"), max_length=64, default="Asia/Shanghai", validators=[validate_time_zone])
    # How long a back-office login lasts (crm/logins/sessions.py): a shared shop-floor computer
    # should not stay logged in for days. Never beyond SESSION_COOKIE_AGE (14 days).
    admin_session_hours = models.PositiveSmallIntegerField(
        _("后台登录有效期（小时）"),
        default=12,
        validators=[MinValueValidator(1), MaxValueValidator(14 * 24)],
        help_text=_("品牌员工登录后台后，超过该时长需重新登录。"),
    )
    # Set once the schema is migrated and the first admin exists: until then nothing (web
    # requests aside, which need a domain anyway) may run in the brand, beat entries included.
    ready = models.BooleanField(_("已就绪"), default=False)
    # What the brand's schema has applied, as fingerprints of the code that migrated it last
    # (crm/tenancy/fingerprints.py): `migrate_brands` migrates only brands whose fingerprints differ
    # from the code's, and creates permissions and content types only when the models changed.
    # Empty: never migrated by `migrate_brands` (such a brand is migrated once, then skipped).
    migrations_fingerprint = models.CharField(max_length=64, blank=True, editable=False)
    models_fingerprint = models.CharField(max_length=64, blank=True, editable=False)

    # The provisioning service creates the schema itself, so it controls failure clean-up.
    auto_create_schema = False
    auto_drop_schema = False

    class Meta:
        verbose_name = _("品牌")
        verbose_name_plural = _("品牌")
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.schema_name})"

    @property
    def slug(self) -> str:
        return self.schema_name

    @property
    def processor_identity_complete(self) -> bool:
        """Name, address and personal-information contact: what the membership agreement needs."""
        return bool(self.name.strip() and self.contact_address.strip() and self.pi_contact.strip())

    @property
    def is_platform(self) -> bool:
        from django_tenants.utils import get_public_schema_name

        return self.schema_name == get_public_schema_name()


class Domain(DomainMixin):
    # django-tenants has no types, so to mypy DomainMixin is Any and Domain no model: django-stubs
    # needs Domain's manager declared to type Brand.domains. An annotation only: nothing at runtime.
    _default_manager: "ClassVar[models.Manager[Domain]]"

    class Meta:
        verbose_name = _("域名")
        verbose_name_plural = _("域名")

    def __str__(self) -> str:
        return self.domain
