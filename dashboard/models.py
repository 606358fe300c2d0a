"""The dashboard's settings and its aggregate tables.

The aggregates are rebuilt set-based by `dashboard.services.dashboard_refresh` (hourly beat job,
or `manage.py dashboard_refresh`), so a page view reads a few thousand pre-grouped rows instead
of scanning a million members and ten million orders. The capture rate needs none of them: it
reads members.CaptureRateDaily, which order ingest keeps current.

Every member-based aggregate carries two store columns, the member's home store and the store of
the member's assigned staff, because store scoping (members/scoping.py) shows a member to a store
user when EITHER matches: summing the rows where `home_store_id = S OR staff_store_id = S` gives
exactly the members that store may see. They are plain integers, not foreign keys: an aggregate
must never block deleting or merging what it counts, and it is rebuilt from scratch anyway.

"Members" on the dashboard means people who are members now: status active or frozen. Erased
members are excluded from all processing (PIPL deletion) and merged ones are duplicates of a
survivor, so neither is counted; the points ledger figures (a money-like flow) keep every entry.
"""

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from crm.base_models import TimeStampedModel


class DashboardSettings(TimeStampedModel):
    """The brand's targets shown as lines on the dashboard. One row per brand (pk=1)."""

    singleton = models.BooleanField(default=True, unique=True, editable=False)
    capture_target_pct = models.PositiveSmallIntegerField(
        _("会员交易占比目标（订单数，%）"), default=80, help_text=_("趋势图上的目标线")
    )
    capture_gmv_target_pct = models.PositiveSmallIntegerField(_("会员交易占比目标（GMV，%）"), default=85)

    class Meta:
        verbose_name = _("看板设置")
        verbose_name_plural = _("看板设置")
        constraints = [
            models.CheckConstraint(condition=Q(capture_target_pct__lte=100), name="dashboard_capture_target_pct"),
            models.CheckConstraint(condition=Q(capture_gmv_target_pct__lte=100), name="dashboard_capture_gmv_target"),
        ]

    def __str__(self) -> str:
        return str(_("看板设置"))


class DashboardRefresh(models.Model):
    """When the aggregates were last rebuilt (one row, pk=1): the page says how fresh it is."""

    singleton = models.BooleanField(default=True, unique=True, editable=False)
    refreshed_at = models.DateTimeField(_("刷新时间"))
    duration_ms = models.PositiveIntegerField(_("耗时（毫秒）"), default=0)
    # Set on the row dashboard_refresh returns, never stored: each step's milliseconds (the bench).
    step_ms: dict[str, int]

    class Meta:
        verbose_name = _("看板刷新")
        verbose_name_plural = _("看板刷新")

    def __str__(self) -> str:
        return f"{self.refreshed_at:%Y-%m-%d %H:%M}"


class AggregateRow(models.Model):
    """Base of the aggregate tables: rows are written only by the refresh, in bulk."""

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{type(self).__name__} {self.pk}"


class MemberEnrolmentDaily(AggregateRow):
    """Current members by local enrolment day, enrolment channel and source (`state`)."""

    day = models.DateField()
    channel = models.CharField(max_length=20)
    source = models.CharField(max_length=64)
    home_store_id = models.BigIntegerField(null=True)
    staff_store_id = models.BigIntegerField(null=True)
    members = models.PositiveIntegerField()

    class Meta:
        indexes = [models.Index(fields=["day"], name="dash_enrol_day")]


class ActivityDaily(AggregateRow):
    """What happened per local day, by the member's two store columns, over the last
    dashboard.periods.ROLLUP_DAYS days: points earned (earn + bonus) and redeemed, consent
    withdrawals, tier upgrades. A date range on the dashboard sums its days (and its previous
    period's days for 环比) instead of scanning the ledger. Several rows may share a key (one
    INSERT per source table); readers only ever sum them."""

    day = models.DateField()
    home_store_id = models.BigIntegerField(null=True)
    staff_store_id = models.BigIntegerField(null=True)
    points_earned = models.BigIntegerField(default=0)
    points_redeemed = models.BigIntegerField(default=0)
    withdrawals = models.PositiveIntegerField(default=0)
    tier_ups = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["day"], name="dash_activity_day")]


class MemberStateCount(AggregateRow):
    """Current members by tier, AIPL stage and status, with their points (for the liability)."""

    tier_id = models.BigIntegerField(null=True)
    lifecycle_stage = models.CharField(max_length=16)
    status = models.CharField(max_length=16)
    has_staff = models.BooleanField()
    home_store_id = models.BigIntegerField(null=True)
    staff_store_id = models.BigIntegerField(null=True)
    members = models.PositiveIntegerField()
    points_balance = models.BigIntegerField()
    points_pending = models.BigIntegerField()
    # Points of open lots expiring within 30 days of the refresh.
    points_expiring_30d = models.BigIntegerField()


class PointsMonthly(AggregateRow):
    """Ledger entries per local month and kind (signed sums, as in the ledger)."""

    month = models.DateField()
    kind = models.CharField(max_length=8)
    home_store_id = models.BigIntegerField(null=True)
    staff_store_id = models.BigIntegerField(null=True)
    points = models.BigIntegerField()
    entries = models.PositiveIntegerField()


class TierMoveMonthly(AggregateRow):
    """Tier changes per local month: up (to a higher rank) or down, by target tier."""

    class Direction(models.TextChoices):
        UP = "up", _("升级")
        DOWN = "down", _("降级")

    month = models.DateField()
    direction = models.CharField(max_length=4, choices=Direction.choices)
    to_tier_id = models.BigIntegerField(null=True)
    home_store_id = models.BigIntegerField(null=True)
    staff_store_id = models.BigIntegerField(null=True)
    moves = models.PositiveIntegerField()


class ConsentPurposeCount(AggregateRow):
    """Per purpose: current members contactable (consent.selectors.members_contactable) and
    members whose consent for it waits for re-consent. purpose "*" counts members needing
    re-consent for any purpose."""

    purpose = models.CharField(max_length=32)
    home_store_id = models.BigIntegerField(null=True)
    staff_store_id = models.BigIntegerField(null=True)
    contactable = models.PositiveIntegerField()
    needs_reconsent = models.PositiveIntegerField()


class ConsentWithdrawalWeekly(AggregateRow):
    """Withdrawals per local ISO week (Monday) and purpose: a refusal recorded after the same
    purpose had been granted. Refusals at enrolment are decisions, not withdrawals."""

    week = models.DateField()
    purpose = models.CharField(max_length=32)
    home_store_id = models.BigIntegerField(null=True)
    staff_store_id = models.BigIntegerField(null=True)
    withdrawals = models.PositiveIntegerField()


class StaffSummary(AggregateRow):
    """Per staff: current members owned, and the orders credited to them by performance's
    attribution (导购业绩: the rule's exclusive staff / last touch / serving staff, nobody for a
    staff member's own purchase) paid in the last 12 months, with that credit net of refunds.
    Read from performance's per-day rollup (DayFigures), not from the orders."""

    staff_id = models.BigIntegerField(unique=True)
    store_id = models.BigIntegerField(null=True)
    members = models.PositiveIntegerField()
    orders_12m = models.PositiveIntegerField()
    gmv_12m_fen = models.BigIntegerField()


class ValueCohort(AggregateRow):
    """Repurchase and a simple CLV over the last 12 months, by enrolment quarter and current tier:
    current members, those who bought (≥1 order), bought again (≥2 orders), net GMV."""

    cohort = models.DateField()
    tier_id = models.BigIntegerField(null=True)
    home_store_id = models.BigIntegerField(null=True)
    staff_store_id = models.BigIntegerField(null=True)
    members = models.PositiveIntegerField()
    buyers = models.PositiveIntegerField()
    repeat_buyers = models.PositiveIntegerField()
    gmv_fen = models.BigIntegerField()


class CampaignResult(AggregateRow):
    """campaigns.selectors.occurrence_results of the latest finished occurrences, stored so the
    page never joins a million-member audience with the orders table."""

    occurrence_id = models.BigIntegerField(unique=True)
    campaign_id = models.BigIntegerField()
    campaign_name = models.CharField(max_length=100)
    slot = models.DateTimeField()
    audience = models.PositiveIntegerField()
    holdout = models.PositiveIntegerField()
    messages_sent = models.PositiveIntegerField()
    messages_delivered = models.PositiveIntegerField()
    points_awarded = models.BigIntegerField()
    audience_buyers = models.PositiveIntegerField()
    audience_gmv_fen = models.BigIntegerField()
    holdout_buyers = models.PositiveIntegerField()
    holdout_gmv_fen = models.BigIntegerField()

    class Meta:
        ordering = ["-slot"]
