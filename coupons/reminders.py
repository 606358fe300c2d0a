"""Expiry reminders (到期提醒): a member whose unused coupons end within the brand's
`CouponSettings.reminder_days` brand days hears once per (template, end day) — one message
however many coupons of that template end that day — by SMS, only if they may be contacted:
`consent.selectors.members_contactable(purpose=marketing_sms)` (active, membership and SMS
marketing consent effective) and a mobile to send to (the channel's gate), asked again at the
moment of sending.

The task (beat `coupons-remind`, hourly in every brand) writes nothing before the brand's
reminder hour in brand time, and catches up later that day if a run was missed. Idempotent: a
reminder is a row unique on (member, template, end day), written set-based with ON CONFLICT DO
NOTHING, so a rerun, a retried task or two workers at once write none twice; sending claims
queued rows with FOR UPDATE SKIP LOCKED and marks them in the same transaction, with the row id
as the provider's reference (a provider that deduplicates by it sends once even if the commit
is lost). The channel is whoever registered with coupons.hooks.coupon_reminder_sender_register
(campaigns: its SMS provider, adding the 退订 footer); without one, reminders stay queued.
"""

# Raw SQL here names tables from model meta only; every value is a query parameter.
# ruff: noqa: S608

import datetime as dt

from django.db import transaction
from django.utils import timezone

from consent.models import Purpose
from consent.selectors import members_contactable
from crm.db import connection
from crm.tenancy.zones import brand_zone
from members.models import Member

from .hooks import ReminderMessage, coupon_reminder_sender
from .manual_issue import coupon_settings_get
from .models import Coupon, CouponReminder, CouponTemplate

PURPOSE = Purpose.MARKETING_SMS
SEND_BATCH = 500


def coupon_reminders_write(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Queue the reminders due now (module docstring): {"written": n}, or {"written": 0,
    "off"|"before_hour": 1} when the brand sends none or not yet today."""
    now = now or timezone.now()
    settings = coupon_settings_get()
    if not settings.reminder_days:
        return {"written": 0, "off": 1}
    zone = brand_zone()
    local = now.astimezone(zone)
    if local.hour < settings.reminder_hour:
        return {"written": 0, "before_hour": 1}
    last_day = local.date() + dt.timedelta(days=settings.reminder_days)
    until = dt.datetime.combine(last_day, dt.time.max, tzinfo=zone)
    contactable_sql, contactable_params = members_contactable(purpose=PURPOSE).values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH written AS (
            INSERT INTO {CouponReminder._meta.db_table}
                (member_id, template_id, expires_on, coupons, status, address, body, provider_msgid, error,
                 created_at, sent_at)
            SELECT d.member_id, d.template_id, d.expires_on, count(*), 'queued', d.mobile,
                   format('您有 %%s 张「%%s」将于 %%s 到期，请及时使用。', count(*), d.name,
                          to_char(d.expires_on, 'YYYY-MM-DD')),
                   '', '', %s, NULL
            FROM (
                SELECT c.member_id, c.template_id, (c.valid_until AT TIME ZONE %s)::date AS expires_on,
                       m.mobile, t.name
                FROM {Coupon._meta.db_table} c
                JOIN {Member._meta.db_table} m ON m.id = c.member_id
                JOIN {CouponTemplate._meta.db_table} t ON t.id = c.template_id
                WHERE c.state IN ('issued', 'locked') AND c.valid_until >= %s AND c.valid_until <= %s
                  AND m.mobile <> '' AND c.member_id IN ({contactable_sql})
            ) d
            GROUP BY d.member_id, d.template_id, d.expires_on, d.mobile, d.name
            ON CONFLICT (member_id, template_id, expires_on) DO NOTHING
            RETURNING 1
            )
            SELECT count(*) FROM written
            """,
            [now, zone.key, now, until, *contactable_params],
        )
        # Counted from RETURNING: through a Citus coordinator an INSERT … SELECT reports the rows
        # it sent, conflicts included (docs/scale-out.md).
        return {"written": cursor.fetchone()[0]}


def coupon_reminders_send(*, limit: int = 10_000) -> dict[str, int]:
    """Send queued reminders through the registered channel, SEND_BATCH at a time: consent and
    the coupons are checked again now (withdrawn consent, or every coupon of the reminder used
    meanwhile → skipped, with the reason). {"sent", "skipped", "failed", "queued_left"}."""
    sender = coupon_reminder_sender()
    counts = {"sent": 0, "skipped": 0, "failed": 0}
    if sender is None:
        return {**counts, "queued_left": CouponReminder.objects.filter(status=CouponReminder.Status.QUEUED).count()}
    done = 0
    while done < limit:
        with transaction.atomic():
            batch = list(
                CouponReminder.objects.select_for_update(skip_locked=True)
                .filter(status=CouponReminder.Status.QUEUED)
                .order_by("id")[:SEND_BATCH]
            )
            if not batch:
                break
            done += len(batch)
            now = timezone.now()
            reachable = set(
                members_contactable(purpose=PURPOSE)
                .filter(pk__in={r.member_id for r in batch})
                .exclude(mobile="")
                .values_list("pk", flat=True)
            )
            still = set(
                Coupon.objects.filter(
                    member_id__in={r.member_id for r in batch},
                    template_id__in={r.template_id for r in batch},
                    state__in=[Coupon.State.ISSUED, Coupon.State.LOCKED],
                    valid_until__gte=now,
                ).values_list("member_id", "template_id")
            )
            to_send: list[CouponReminder] = []
            for reminder in batch:
                if reminder.member_id not in reachable:
                    _mark(reminder, CouponReminder.Status.SKIPPED, error="会员已撤回短信营销授权或没有手机号")
                elif (reminder.member_id, reminder.template_id) not in still:
                    _mark(reminder, CouponReminder.Status.SKIPPED, error="券已使用或已失效")
                else:
                    to_send.append(reminder)
            counts["skipped"] += len(batch) - len(to_send)
            results = {
                result.reference: result
                for result in sender(
                    [
                        ReminderMessage(reference=str(r.pk), member_id=r.member_id, mobile=r.address, body=r.body)
                        for r in to_send
                    ]
                )
            }
            for reminder in to_send:
                result = results.get(str(reminder.pk))
                if result is not None and result.accepted:
                    _mark(reminder, CouponReminder.Status.SENT, msgid=result.provider_msgid, sent_at=now)
                    counts["sent"] += 1
                else:
                    _mark(reminder, CouponReminder.Status.FAILED, error=(result.error if result else "无回执")[:255])
                    counts["failed"] += 1
    return {**counts, "queued_left": CouponReminder.objects.filter(status=CouponReminder.Status.QUEUED).count()}


def _mark(
    reminder: CouponReminder, status: str, *, error: str = "", msgid: str = "", sent_at: dt.datetime | None = None
) -> None:
    CouponReminder.objects.filter(pk=reminder.pk).update(
        status=status, error=error, provider_msgid=msgid[:100], sent_at=sent_at
    )
