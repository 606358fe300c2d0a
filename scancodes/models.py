"""One item, one code (一物一码): dealers, scan campaigns, code batches, segments, codes, scans,
claims and diversion alerts. Rules: DOMAIN.md "One item, one code".

The claim secret of a generated code is never stored: it is HMAC(batch key, serial), and the batch
key is stored encrypted with a key derived from SECRET_KEY (scancodes/claim_keys.py). A copy of the
database alone therefore cannot check a guessed secret offline. A printer's own codes are stored
as a keyed hash (HMAC with the same server-side key) of their secret, with the file's provenance.
"""

from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import ArrayField, RangeOperators
from django.db import models
from django.db.models import F, Func, Q
from django.utils.translation import gettext_lazy as _

from crm.base_models import TimeStampedModel


class Dealer(TimeStampedModel):
    """A dealer (经销商) and the sales region the brand planned for it: provinces and/or cities,
    matched against the scanner's IP city. Brand data: admin and import."""

    code = models.CharField(_("经销商编码"), max_length=32, unique=True)
    name = models.CharField(_("经销商名称"), max_length=100)
    region_name = models.CharField(_("销售区域"), max_length=50, blank=True)
    region_areas = ArrayField(
        models.CharField(max_length=32),
        verbose_name=_("区域包含的省/市"),
        default=list,
        blank=True,
        help_text=_("省份或城市名，如 浙江、上海、苏州；留空则不做窜货判断"),
    )
    store = models.ForeignKey(
        "members.Store",
        verbose_name=_("经销商门店"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        help_text=_("扫码会员没有专属导购时，可分配给该门店的导购"),
    )
    assign_owner = models.BooleanField(_("扫码会员分配给门店导购"), default=False)
    is_active = models.BooleanField(_("有效"), default=True)

    class Meta:
        verbose_name = _("经销商")
        verbose_name_plural = _("经销商")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.name}（{self.code}）"


class ScanCampaign(TimeStampedModel):
    """What a claim earns: the reward kind and amount (per SKU), validity, caps and budget."""

    class RewardKind(models.TextChoices):
        POINTS = "points", _("积分")
        GROWTH = "growth", _("成长值")
        COUPON = "coupon", _("优惠券")

    name = models.CharField(_("活动名称"), max_length=100, unique=True)
    reward_kind = models.CharField(_("奖励类型"), max_length=16, choices=RewardKind.choices, default=RewardKind.POINTS)
    points = models.PositiveIntegerField(_("每码奖励积分"), default=0)
    sku_points = models.JSONField(
        _("按 SKU 的奖励积分"), default=dict, blank=True, help_text=_('如 {"SKU-001": 20}；未列出的 SKU 用每码奖励积分')
    )
    growth_value = models.PositiveIntegerField(
        _("每码奖励成长值"), default=0, help_text=_("计入会员每月活动成长值上限，超出部分不发放")
    )
    coupon_template = models.ForeignKey(
        "coupons.CouponTemplate",
        verbose_name=_("奖励优惠券"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("每次领取发一张；受该券的库存和每人限领约束"),
    )
    starts_at = models.DateTimeField(_("开始时间"))
    ends_at = models.DateTimeField(_("结束时间"))
    cap_member_day = models.PositiveIntegerField(_("每人每日上限（次）"), null=True, blank=True)
    cap_member_month = models.PositiveIntegerField(_("每人每月上限（次）"), null=True, blank=True)
    # The budget counts the campaign's own reward: points, growth value, or coupons (one a claim).
    budget_points = models.PositiveBigIntegerField(
        _("奖励预算"), null=True, blank=True, help_text=_("积分、成长值按数值，优惠券按张数；留空为不限")
    )
    spent_points = models.PositiveBigIntegerField(_("已发放"), default=0, editable=False)
    # Fraud: more claims than this from one IP or device within an hour are held as pending.
    risky_claims_per_hour = models.PositiveIntegerField(_("同一 IP/设备每小时领取超过即待审"), default=20)

    class Meta:
        verbose_name = _("扫码活动")
        verbose_name_plural = _("扫码活动")
        ordering = ["-starts_at"]
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=F("starts_at")), name="scan_campaign_dates"),
            models.CheckConstraint(
                condition=Q(budget_points__isnull=True) | Q(spent_points__lte=F("budget_points")),
                name="scan_campaign_within_budget",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def points_for(self, sku: str) -> int:
        value = self.sku_points.get(sku) if isinstance(self.sku_points, dict) else None
        return int(value) if isinstance(value, int) and value >= 0 else self.points

    def units_for(self, sku: str) -> int:
        """What one claim of `sku` costs the budget: its points, its growth value, or 1 coupon."""
        if self.reward_kind == self.RewardKind.POINTS:
            return self.points_for(sku)
        if self.reward_kind == self.RewardKind.GROWTH:
            return self.growth_value
        return 1


class SerialCounter(models.Model):
    """The next free serial of the brand (one row). Generated batches take contiguous ranges."""

    singleton = models.BooleanField(default=True, unique=True, editable=False)
    next_serial = models.BigIntegerField(default=100_000_000_001)

    class Meta:
        verbose_name = _("序列号计数器")
        verbose_name_plural = _("序列号计数器")

    def __str__(self) -> str:
        return str(self.next_serial)


class CodeBatch(TimeStampedModel):
    """N codes for one SKU. Life: generated → exported → activated (segments) → revoked/expired."""

    class Status(models.TextChoices):
        GENERATED = "generated", _("已生成")
        EXPORTED = "exported", _("已导出")
        ACTIVATED = "activated", _("已激活")
        REVOKED = "revoked", _("已作废")

    class Origin(models.TextChoices):
        GENERATED = "generated", _("系统生成")
        IMPORTED = "imported", _("印刷厂导入")

    batch_no = models.CharField(_("批次号"), max_length=32, unique=True)
    sku = models.CharField(_("SKU"), max_length=64)
    product_name = models.CharField(_("商品名称"), max_length=100)
    category = models.CharField(_("品类"), max_length=50, blank=True)
    quantity = models.PositiveIntegerField(_("数量"))
    first_serial = models.BigIntegerField(_("起始序列号"), null=True, blank=True)
    last_serial = models.BigIntegerField(_("结束序列号"), null=True, blank=True)
    origin = models.CharField(_("来源"), max_length=16, choices=Origin.choices, default=Origin.GENERATED)
    status = models.CharField(_("状态"), max_length=16, choices=Status.choices, default=Status.GENERATED)
    key_encrypted = models.TextField(_("批次密钥（已加密）"), blank=True, editable=False)
    exports_allowed = models.PositiveSmallIntegerField(_("允许导出次数"), default=2)
    exports_used = models.PositiveSmallIntegerField(_("已导出次数"), default=0, editable=False)
    expires_at = models.DateTimeField(_("过期时间"), null=True, blank=True)
    created_by = models.CharField(_("创建人"), max_length=150, blank=True)
    revoked_at = models.DateTimeField(_("作废时间"), null=True, blank=True)
    # Provenance of a printer's file.
    import_filename = models.CharField(_("导入文件名"), max_length=255, blank=True)
    import_sha256 = models.CharField(_("导入文件 SHA-256"), max_length=64, blank=True)
    import_note = models.CharField(_("导入说明"), max_length=255, blank=True)

    class Meta:
        verbose_name = _("码批次")
        verbose_name_plural = _("码批次")
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=Q(exports_used__lte=F("exports_allowed")), name="code_batch_exports_cap"),
        ]

    def __str__(self) -> str:
        return f"{self.batch_no} · {self.product_name}"


class CodeExport(models.Model):
    """One export of a batch for the printer: who, when, from where (append-only)."""

    batch = models.ForeignKey(CodeBatch, verbose_name=_("批次"), on_delete=models.PROTECT, related_name="exports")
    seq = models.PositiveSmallIntegerField(_("第几次导出"))
    fmt = models.CharField(_("格式"), max_length=8)
    actor = models.CharField(_("操作人"), max_length=150)
    ip = models.GenericIPAddressField(_("IP"), null=True, blank=True)
    user_agent = models.CharField(_("浏览器"), max_length=255, blank=True)
    at = models.DateTimeField(_("导出时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("导出记录")
        verbose_name_plural = _("导出记录")
        constraints = [models.UniqueConstraint(fields=["batch", "seq"], name="code_export_once_per_seq")]

    def __str__(self) -> str:
        return f"{self.batch.batch_no} #{self.seq}"


class Int8Range(Func):
    function = "int8range"
    output_field = models.Field()


class Segment(TimeStampedModel):
    """A serial range of a batch with what it was made for (lot, production date, planned region
    and dealer) and the campaign its claims earn from. Activation is per segment, optionally
    scheduled (`active_from`); ranges never overlap (an exclusion constraint)."""

    class Status(models.TextChoices):
        INACTIVE = "inactive", _("未激活")
        ACTIVE = "active", _("已激活")
        REVOKED = "revoked", _("已作废")

    batch = models.ForeignKey(CodeBatch, verbose_name=_("批次"), on_delete=models.PROTECT, related_name="segments")
    first_serial = models.BigIntegerField(_("起始序列号"))
    last_serial = models.BigIntegerField(_("结束序列号"))
    lot = models.CharField(_("生产批号"), max_length=64, blank=True)
    production_date = models.DateField(_("生产日期"), null=True, blank=True)
    region_name = models.CharField(_("计划销售区域"), max_length=50, blank=True)
    dealer = models.ForeignKey(Dealer, verbose_name=_("经销商"), on_delete=models.PROTECT, null=True, blank=True)
    campaign = models.ForeignKey(
        ScanCampaign, verbose_name=_("扫码活动"), on_delete=models.PROTECT, null=True, blank=True
    )
    status = models.CharField(_("状态"), max_length=16, choices=Status.choices, default=Status.INACTIVE)
    active_from = models.DateTimeField(_("生效时间"), null=True, blank=True)
    activated_by = models.CharField(_("激活人"), max_length=150, blank=True)
    revoked_at = models.DateTimeField(_("作废时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("码段")
        verbose_name_plural = _("码段")
        ordering = ["first_serial"]
        constraints = [
            models.CheckConstraint(condition=Q(last_serial__gte=F("first_serial")), name="segment_range_order"),
            ExclusionConstraint(
                name="segment_ranges_disjoint",
                expressions=[(Int8Range("first_serial", "last_serial", models.Value("[]")), RangeOperators.OVERLAPS)],
            ),
        ]

    def __str__(self) -> str:
        return f"{self.first_serial}–{self.last_serial}"


class Code(models.Model):
    """One printed code. Kept narrow (10M rows per batch): the serial is the key; claim state is
    written once by the first claimant's conditional UPDATE."""

    # No foreign-key constraints on this table: a constraint fires a trigger per inserted row, which
    # made generating 1M codes ~2× slower. Only the services write codes (batch from the batch they
    # create; claimed_member by the claim, whose Claim row holds the real constraint to members).
    serial = models.BigIntegerField(_("序列号"), primary_key=True)
    batch = models.ForeignKey(
        CodeBatch, verbose_name=_("批次"), on_delete=models.DO_NOTHING, db_index=False, db_constraint=False
    )
    # Only a printer's imported code: HMAC-SHA256 of its secret under the server-side key.
    secret_hash = models.BinaryField(_("验证码摘要"), null=True, editable=False)
    claimed_member = models.ForeignKey(
        "members.Member",
        verbose_name=_("领取会员"),
        on_delete=models.DO_NOTHING,
        null=True,
        db_index=False,
        db_constraint=False,
        related_name="+",
    )
    claimed_at = models.DateTimeField(_("领取时间"), null=True)
    scan_count = models.PositiveIntegerField(_("扫码次数"), default=0)
    first_scanned_at = models.DateTimeField(_("首次验证时间"), null=True)
    first_city = models.CharField(_("首次验证城市"), max_length=32, blank=True, default="")

    class Meta:
        verbose_name = _("码")
        verbose_name_plural = _("码")

    def __str__(self) -> str:
        return str(self.serial)


class Scan(models.Model):
    """Every scan, whatever its outcome (append-only)."""

    class Outcome(models.TextChoices):
        VERIFIED = "verified", _("验证通过")
        CLAIMED = "claimed", _("领取成功")
        PENDING = "pending", _("领取待审")
        ALREADY = "already", _("已被领取")
        BAD_SECRET = "bad_secret", _("验证码错误")
        LIMITED = "limited", _("频率限制")
        NOT_ACTIVE = "not_active", _("未激活")
        REVOKED = "revoked", _("已作废")
        EXPIRED = "expired", _("已过期")
        REFUSED = "refused", _("未发放（上限/预算/活动）")

    serial = models.BigIntegerField(_("序列号"), db_index=True)
    at = models.DateTimeField(_("扫码时间"), db_index=True)
    biz_date = models.DateField(_("营业日"))
    outcome = models.CharField(_("结果"), max_length=16, choices=Outcome.choices)
    member_id = models.BigIntegerField(_("会员"), null=True)
    ip = models.GenericIPAddressField(_("IP"), null=True)
    device = models.CharField(_("设备指纹"), max_length=64, blank=True)
    province = models.CharField(_("省份"), max_length=32, blank=True)
    city = models.CharField(_("城市"), max_length=32, blank=True)
    # Precise location only with the scanner's separate consent on that scan (PIPL art. 28/29).
    precise_consent = models.BooleanField(_("同意精确定位"), default=False)
    latitude = models.DecimalField(_("纬度"), max_digits=9, decimal_places=6, null=True)
    longitude = models.DecimalField(_("经度"), max_digits=9, decimal_places=6, null=True)
    channel = models.CharField(_("渠道"), max_length=16, default="h5")

    class Meta:
        verbose_name = _("扫码记录")
        verbose_name_plural = _("扫码记录")

    def __str__(self) -> str:
        return f"{self.serial} {self.outcome}"


class Claim(models.Model):
    """The one claim of a code (unique per code: the second line behind the conditional UPDATE)."""

    class Status(models.TextChoices):
        GRANTED = "granted", _("已发放")
        PENDING = "pending", _("待审核")
        VOID = "void", _("已作废")

    code = models.OneToOneField(Code, verbose_name=_("码"), on_delete=models.PROTECT, related_name="claim")
    member = models.ForeignKey("members.Member", verbose_name=_("会员"), on_delete=models.PROTECT)
    batch = models.ForeignKey(CodeBatch, verbose_name=_("批次"), on_delete=models.PROTECT)
    segment = models.ForeignKey(Segment, verbose_name=_("码段"), on_delete=models.PROTECT)
    campaign = models.ForeignKey(ScanCampaign, verbose_name=_("活动"), on_delete=models.PROTECT, null=True)
    dealer = models.ForeignKey(Dealer, verbose_name=_("经销商"), on_delete=models.PROTECT, null=True)
    sku = models.CharField(_("SKU"), max_length=64)
    status = models.CharField(_("状态"), max_length=16, choices=Status.choices)
    reward_kind = models.CharField(_("奖励类型"), max_length=16, blank=True)
    points = models.PositiveIntegerField(_("奖励积分"), default=0)
    # Growth value: planned at the claim, then what the ledger granted (the monthly activity cap).
    growth = models.PositiveIntegerField(_("奖励成长值"), default=0)
    coupon = models.ForeignKey(
        "coupons.Coupon",
        verbose_name=_("奖励优惠券"),
        on_delete=models.PROTECT,
        null=True,
        related_name="+",
        db_index=False,  # never looked up by coupon; one index less on every claim's insert
    )
    pending_reason = models.CharField(_("待审原因"), max_length=100, blank=True)
    at = models.DateTimeField(_("领取时间"))
    biz_date = models.DateField(_("营业日"))
    province = models.CharField(_("省份"), max_length=32, blank=True)
    city = models.CharField(_("城市"), max_length=32, blank=True)
    ip = models.GenericIPAddressField(_("IP"), null=True)
    device = models.CharField(_("设备指纹"), max_length=64, blank=True)
    diverted = models.BooleanField(_("疑似窜货"), default=False)
    new_member = models.BooleanField(_("扫码入会"), default=False)
    decided_by = models.CharField(_("处理人"), max_length=150, blank=True)
    void_reason = models.CharField(_("作废原因"), max_length=255, blank=True)

    class Meta:
        verbose_name = _("领取记录")
        verbose_name_plural = _("领取记录")
        indexes = [
            models.Index(fields=["member", "at"], name="claim_member_at"),
            models.Index(fields=["biz_date"], name="claim_biz_date"),
        ]

    def __str__(self) -> str:
        return f"{self.code_id} → {self.member_id}"

    @property
    def budget_units(self) -> int:
        """What this claim holds of its campaign's budget (ScanCampaign.units_for)."""
        if self.reward_kind == ScanCampaign.RewardKind.COUPON:
            return 1
        return self.growth if self.reward_kind == ScanCampaign.RewardKind.GROWTH else self.points


class ClaimCounter(models.Model):
    """Claims of one member in one campaign per day ('d') or month ('m'): the caps are a
    conditional upsert on this row, never a count followed by an insert."""

    member_id = models.BigIntegerField()
    campaign = models.ForeignKey(ScanCampaign, on_delete=models.CASCADE)
    period = models.CharField(max_length=1)
    starts = models.DateField()
    claims = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["member_id", "campaign", "period", "starts"], name="claim_counter_key")
        ]

    def __str__(self) -> str:
        return f"{self.member_id} {self.period}{self.starts}: {self.claims}"


class DiversionAlert(models.Model):
    """A claim outside its dealer's planned region (窜货). The consumer keeps the reward."""

    class Status(models.TextChoices):
        OPEN = "open", _("待处理")
        CLOSED = "closed", _("已处理")

    claim = models.OneToOneField(Claim, verbose_name=_("领取记录"), on_delete=models.PROTECT)
    dealer = models.ForeignKey(Dealer, verbose_name=_("经销商"), on_delete=models.PROTECT)
    expected_region = models.CharField(_("计划区域"), max_length=50)
    province = models.CharField(_("实际省份"), max_length=32, blank=True)
    city = models.CharField(_("实际城市"), max_length=32, blank=True)
    at = models.DateTimeField(_("时间"))
    biz_date = models.DateField(_("营业日"), db_index=True)
    status = models.CharField(_("状态"), max_length=16, choices=Status.choices, default=Status.OPEN)

    class Meta:
        verbose_name = _("窜货预警")
        verbose_name_plural = _("窜货预警")
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.dealer} {self.city}"


class CodeImport(TimeStampedModel):
    """One uploaded file imported in the background (scancodes/imports.py): dealers with their
    regions, or a printer's own codes. The file is kept here until the job ends, then dropped; the
    counts, the row errors (Chinese) and, for codes, the batch it made are what stays."""

    class Kind(models.TextChoices):
        DEALERS = "dealers", _("经销商导入")
        CODES = "codes", _("印刷厂码导入")

    class Status(models.TextChoices):
        QUEUED = "queued", _("排队中")
        CHECKING = "checking", _("检查中")
        RUNNING = "running", _("导入中")
        SUCCEEDED = "succeeded", _("已完成")
        FAILED = "failed", _("失败")

    kind = models.CharField(_("类型"), max_length=16, choices=Kind.choices)
    status = models.CharField(_("状态"), max_length=16, choices=Status.choices, default=Status.QUEUED)
    filename = models.CharField(_("文件名"), max_length=255)
    sha256 = models.CharField(_("文件 SHA-256"), max_length=64)
    content = models.BinaryField(_("文件内容"), editable=False)
    # codes: {"sku", "product_name", "category", "note"}.
    options = models.JSONField(_("选项"), default=dict, blank=True)
    actor = models.CharField(_("操作人"), max_length=150)
    rows_total = models.PositiveIntegerField(_("数据行数"), default=0)
    rows_done = models.PositiveIntegerField(_("已处理行数"), default=0)
    # The sheet line up to which rows have been handled and recorded: a resumed job starts after it.
    last_line = models.PositiveIntegerField(_("已处理到第几行"), default=0)
    created = models.PositiveIntegerField(_("新增"), default=0)
    updated = models.PositiveIntegerField(_("更新"), default=0)
    errors = models.PositiveIntegerField(_("错误行数"), default=0)
    # [{"line": n, "message": "…"}], the first ERRORS_KEPT of them.
    row_errors = models.JSONField(_("错误行"), default=list, blank=True)
    error = models.TextField(_("失败原因"), blank=True)
    batch = models.ForeignKey(
        CodeBatch, verbose_name=_("生成的批次"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    started_at = models.DateTimeField(_("开始时间"), null=True, blank=True)
    finished_at = models.DateTimeField(_("结束时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("导入任务")
        verbose_name_plural = _("导入任务")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["kind", "-created_at"], name="codeimport_kind_recent")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} {self.filename}"

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.SUCCEEDED, self.Status.FAILED)


class DigestSend(models.Model):
    """The diversion digest of one brand day, sent once (scancodes/digest.py): the unique day is
    what makes a re-delivered or repeated task harmless."""

    class Status(models.TextChoices):
        PENDING = "pending", _("待发送")
        SENT = "sent", _("已发送")
        EMPTY = "empty", _("当日无预警")

    day = models.DateField(_("营业日"), unique=True)
    status = models.CharField(_("状态"), max_length=16, choices=Status.choices, default=Status.PENDING)
    alerts = models.PositiveIntegerField(_("预警数"), default=0)
    recipients = ArrayField(models.CharField(max_length=254), verbose_name=_("收件人"), default=list, blank=True)
    sent_at = models.DateTimeField(_("发送时间"), null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(_("尝试次数"), default=0)
    last_error = models.CharField(_("最近错误"), max_length=255, blank=True)

    class Meta:
        verbose_name = _("窜货日报发送记录")
        verbose_name_plural = _("窜货日报发送记录")
        ordering = ["-day"]

    def __str__(self) -> str:
        return f"{self.day} {self.status}"
