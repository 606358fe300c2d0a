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
    # How long a finished background export (performance report, referral graph: crm/jobs/exports.py)
    # stays downloadable: then its file is deleted and the row says 已过期 (PIPL: a file of member
    # data does not linger).
    export_keep_days = models.PositiveSmallIntegerField(
        _("导出文件保留天数"),
        default=7,
        db_default=7,  # the previous release's code, still serving while this one migrates, sets none
        validators=[MinValueValidator(1), MaxValueValidator(90)],
        help_text=_("后台导出的文件生成后保留的天数，到期自动删除，需要时可重新生成。"),
    )
    # Set once the schema is migrated and the first admin exists: until then nothing (web
    # requests aside, which need a domain anyway) may run in the brand, beat entries included.
    ready = models.BooleanField(_("已就绪"), default=False)
    # The brand → cell map (crm/tenancy/cells.py): which PostgreSQL cluster holds the brand's schema.
    # Authoritative in the control database; the copy in the cell's own public schema says the same.
    cell = models.CharField(_("单元"), max_length=30, default="default", db_index=True)
    # On while the brand moves between cells (move_brand): requests that write are refused with a
    # message, tasks wait, nothing is written to the schema being copied.
    read_only = models.BooleanField(_("只读（迁移中）"), default=False)
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


class DueSlot(models.Model):
    """When a brand's scheduled thing (a campaign) is next due: one row per (brand, task, key), in
    the public schema of the brand's database, replacing one django-celery-beat entry per campaign.
    A fixed beat entry runs the dispatcher (crm/tenancy/slots.py), which claims the rows that are
    due with `FOR UPDATE SKIP LOCKED` and sends `task(key, due_at)` into the brand; the brand's task
    decides what the slot means and moves `due_at` on (or deletes the row). Written by the brand's
    services in the same transaction as the thing it schedules (same connection, same database)."""

    # The brand's schema, not a foreign key: a cell's public schema may not hold every brand row,
    # and Citus distributes nothing here (a reference table; docs/scale-out.md).
    schema_name = models.CharField(max_length=63)
    task = models.CharField(max_length=100)
    key = models.BigIntegerField()
    due_at = models.DateTimeField()
    # Set by the dispatcher when it sends the task; a slot whose task never ran (lost message,
    # worker died before it committed) is sent again once the lease has passed.
    leased_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("到期排程")
        verbose_name_plural = _("到期排程")
        constraints = [models.UniqueConstraint(fields=["schema_name", "task", "key"], name="dueslot_brand_task_key")]
        # The dispatcher's scan: the earliest due rows, whatever their brand.
        indexes = [models.Index(fields=["due_at"], name="dueslot_due_at")]

    def __str__(self) -> str:
        return f"{self.schema_name} {self.task}({self.key}) @ {self.due_at:%Y-%m-%d %H:%M}"


class BulkChunk(models.Model):
    """One chunk of a brand's bulk work (a step of a campaign run, ...) waiting for, or holding,
    one of the brand's places on the bulk queue (crm/tenancy/pump.py): at most
    BULK_CHUNKS_IN_FLIGHT_PER_BRAND chunks of a brand are on the queue at a time, so a brand with a
    million-member run cannot fill the queue ahead of another brand's small one."""

    class State(models.TextChoices):
        QUEUED = "queued", _("排队中")
        SENT = "sent", _("已发送")

    schema_name = models.CharField(max_length=63)
    task = models.CharField(max_length=100)
    args = models.JSONField(default=list)
    state = models.CharField(max_length=8, choices=State.choices, default=State.QUEUED)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("批量任务块")
        verbose_name_plural = _("批量任务块")
        indexes = [models.Index(fields=["schema_name", "state", "id"], name="bulkchunk_brand_state")]

    def __str__(self) -> str:
        return f"{self.schema_name} {self.task}{self.args} {self.state}"
