"""Check-in reminders (签到提醒): only to members who switched them on themselves
(CheckinReminderOptIn), only through consent's `members_contactable(purpose=marketing_sms)` (the
consent and status gates) and only with a mobile (the channel gate), never to someone who has
already checked in today. Scheduled in brand time: the hourly tick writes the day's reminders once
the brand's clock passes `checkin_reminder_hour`, one set-based INSERT ... SELECT, unique per
(member, brand day), so a second tick, or two at once, queue nothing more.

Sending: SMS goes through a provider that lives above engagement (campaigns' SMS provider
interface), so the app that owns it registers a sender here (`checkin_reminder_sender_register`
in its AppConfig.ready()); until one is registered reminders stay queued (said by the job's
summary). Rows are claimed queued → sending by a conditional UPDATE, so two senders never send
the same reminder.
"""

# ruff: noqa: S608  (tables from model meta; values are parameters)

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from consent.models import Purpose
from consent.selectors import members_contactable
from consent.services.links import marketing_footer
from crm.tenancy.zones import brand_zone
from engagement.models import Checkin, CheckinReminder, CheckinReminderOptIn
from members.models import Member

from .settings import engagement_settings_get

BATCH = 500


@dataclass(frozen=True)
class ReminderMessage:
    reference: str  # the reminder row id: providers that deduplicate by reference send once
    mobile: str
    body: str


# fn(messages) -> {message.reference: "" when accepted, else the error in words}
ReminderSender = Callable[[list[ReminderMessage]], dict[str, str]]
_sender: list[ReminderSender] = []


def checkin_reminder_sender_register(sender: ReminderSender) -> None:
    _sender[:] = [sender]


def checkin_reminder_sender_unregister() -> None:
    _sender.clear()


def checkin_reminder_opt(*, member: Member, on: bool) -> bool:
    """The member switches check-in reminders on or off (their own choice; idempotent)."""
    if on:
        CheckinReminderOptIn.objects.get_or_create(member=member)
    else:
        CheckinReminderOptIn.objects.filter(member=member).delete()
    return on


def checkin_reminders_due(*, now: dt.datetime | None = None) -> dict[str, object]:
    """The hourly tick: queue today's reminders once the brand's clock has passed the hour, then
    send what is queued."""
    now = now or timezone.now()
    local = now.astimezone(brand_zone())
    today = local.date()
    settings = engagement_settings_get()
    if not settings.checkin_enabled or not settings.checkin_reminder_enabled:
        return {"queued": 0, "sent": 0, "note": "签到提醒未开启"}
    if local.hour < settings.checkin_reminder_hour:
        return {"queued": 0, "sent": 0, "note": f"未到提醒时间（{settings.checkin_reminder_hour}:00）"}
    audience_sql, audience_params = (
        members_contactable(purpose=Purpose.MARKETING_SMS).exclude(mobile="").values("pk").query.sql_with_params()
    )
    body = "今天还没有签到哦，签到可得积分，连续签到还有奖励。"
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {CheckinReminder._meta.db_table} (member_id, biz_date, mobile, body, status, error,
                        created_at)
                SELECT m.id, %s, m.mobile, %s, 'queued', '', %s
                FROM {Member._meta.db_table} m
                JOIN {CheckinReminderOptIn._meta.db_table} o ON o.member_id = m.id
                WHERE m.id IN ({audience_sql})
                  AND NOT EXISTS (SELECT 1 FROM {Checkin._meta.db_table} c
                                  WHERE c.member_id = m.id AND c.biz_date = %s)
                ON CONFLICT (member_id, biz_date) DO NOTHING""",
            [today, body, now, *audience_params, today],
        )
        queued = cursor.rowcount
    sent = checkin_reminders_send(day=today) if _sender else 0
    summary: dict[str, object] = {"queued": queued, "sent": sent}
    if not _sender:
        summary["note"] = "尚无短信发送通道，提醒保持待发送"
    return summary


def _claim(day: dt.date) -> list[CheckinReminder]:
    with connection.cursor() as cursor:
        cursor.execute(
            f"""UPDATE {CheckinReminder._meta.db_table} SET status = 'sending'
                WHERE id IN (SELECT id FROM {CheckinReminder._meta.db_table}
                             WHERE biz_date = %s AND status = 'queued' ORDER BY id LIMIT %s
                             FOR UPDATE SKIP LOCKED)
                RETURNING id""",
            [day, BATCH],
        )
        ids = [row[0] for row in cursor.fetchall()]
    return list(CheckinReminder.objects.filter(pk__in=ids).order_by("id"))


def checkin_reminders_send(*, day: dt.date) -> int:
    """Send the day's queued reminders through the registered sender, in batches. A member who
    withdrew consent or checked in since the reminder was queued is skipped (checked again at
    send time, set-based per batch)."""
    sent = 0
    while batch := _claim(day):
        ids = [r.member_id for r in batch]
        allowed = set(
            members_contactable(purpose=Purpose.MARKETING_SMS).filter(pk__in=ids).values_list("pk", flat=True)
        ) - set(Checkin.objects.filter(member_id__in=ids, biz_date=day).values_list("member_id", flat=True))
        skipped = [r.pk for r in batch if r.member_id not in allowed]
        todo = [r for r in batch if r.member_id in allowed]
        if skipped:
            CheckinReminder.objects.filter(pk__in=skipped).update(status="failed", error="已撤回授权或已签到，未发送")
        results = _sender[0]([_message(r) for r in todo]) if todo else {}
        ok = [r.pk for r in todo if results.get(_message(r).reference) == ""]
        CheckinReminder.objects.filter(pk__in=ok).update(status="sent", sent_at=timezone.now())
        for r in todo:
            if r.pk not in ok:
                error = results.get(_message(r).reference) or "发送通道无结果"
                CheckinReminder.objects.filter(pk=r.pk).update(status="failed", error=error[:255])
        sent += len(ok)
    return sent


def _message(reminder: CheckinReminder) -> ReminderMessage:
    return ReminderMessage(
        reference=f"checkin-reminder:{reminder.pk}",
        mobile=reminder.mobile,
        body=reminder.body + marketing_footer(member_id=reminder.member_id, channel="sms"),
    )
