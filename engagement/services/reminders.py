"""Check-in reminders (签到提醒): only to members who switched them on themselves
(CheckinReminderOptIn), only to those the contactable gates let through — consent's
`contact_gates` (active, effective consent to the channel's marketing purpose) and the channel's
own (WeCom: an active exclusive staff member on WeCom and a WeCom relation, `wecom.selectors`;
SMS: a mobile) — the same gates a campaign's audience passes — and never to someone who already
checked in that brand day.

Scheduled in brand time: the hourly tick writes the day's record once the brand's clock passes
`checkin_reminder_hour`: one row per opted-in member and brand day, in one set-based
INSERT ... SELECT ... ON CONFLICT DO NOTHING (unique per member and day, so a second tick, or two at
once, write nothing more), queued, or skipped with the first gate the member failed, in words.
The brand admin reads the record (签到提醒记录).

Sending: rows are claimed queued → sending by a conditional UPDATE (SKIP LOCKED, stamping
`claimed_at`), so two senders never send the same reminder; the gates are checked again for the
claimed batch at send time. A claim is a lease (`SEND_LEASE`): a row still sending that long after
its claim belonged to a worker that died between the claim and recording the channel's answer.
Every tick (whatever the hour, any day's rows) turns those into failed, saying so — never back to
queued: whether the channel took the message is unknown, and a member hears at most once a day.
WeCom reminders go out as group messages through each member's staff (wecom.messages, as campaign
messages do). SMS goes through the provider that lives above engagement (campaigns registers a
sender here, `checkin_reminder_sender_register`); until one is registered SMS reminders stay queued.
"""

# ruff: noqa: S608  (tables from model meta; values are parameters)

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import BigIntegerField, Exists, F, OuterRef, Q, Value
from django.db.models.expressions import Combinable
from django.utils import timezone

from consent.services.links import marketing_footer
from crm.tenancy.zones import brand_zone
from engagement.models import CheckinReminder, CheckinReminderOptIn, EngagementSettings
from members.models import Member
from wecom.messages import GroupMessage, group_messages_send
from wecom.selectors import wecom_external_userid

from ..selectors import SKIP_REASONS, first_failed_gate, reminder_gates
from .settings import engagement_settings_get

Channel = EngagementSettings.ReminderChannel

BATCH = 500
# A claimed batch is sent within seconds (one WeCom call per staff member, or one SMS call); the
# hourly task's own run is far shorter than this.
SEND_LEASE = dt.timedelta(minutes=15)
INTERRUPTED = "发送中断：发送结果未知，为免重复不再发送"
BODY = "今天还没有签到哦，签到可得积分，连续签到还有奖励。"


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
    """The hourly tick: write today's record once the brand's clock has passed the hour, then send
    what is queued."""
    now = now or timezone.now()
    local = now.astimezone(brand_zone())
    today = local.date()
    interrupted = checkin_reminders_interrupted_fail(now=now)
    lapsed: dict[str, object] = {"interrupted": interrupted} if interrupted else {}
    settings = engagement_settings_get()
    if not settings.checkin_enabled or not settings.checkin_reminder_enabled:
        return {"queued": 0, "sent": 0, **lapsed, "note": "签到提醒未开启"}
    if local.hour < settings.checkin_reminder_hour:
        return {"queued": 0, "sent": 0, **lapsed, "note": f"未到提醒时间（{settings.checkin_reminder_hour}:00）"}
    channel = settings.checkin_reminder_channel
    if channel == Channel.WECOM:
        address: Combinable = wecom_external_userid()
        staff: Combinable = F("assigned_staff_id")
    else:
        address, staff = F("mobile"), Value(None, output_field=BigIntegerField())
    opted = CheckinReminderOptIn.objects.filter(member_id=OuterRef("pk"))
    audience_sql, audience_params = (
        Member.objects.filter(Exists(opted), merged_into__isnull=True)
        .annotate(
            member_ref=F("pk"),
            skip_reason=first_failed_gate(reminder_gates(channel, day=today), SKIP_REASONS),
            to_address=address,
            sender_staff=staff,
        )
        .order_by()
        .values("member_ref", "skip_reason", "to_address", "sender_staff")
        .query.sql_with_params()
    )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {CheckinReminder._meta.db_table} (member_id, biz_date, channel, staff_id, address,
                        body, status, error, provider_msgid, created_at)
                SELECT a.member_ref, %s, %s, CASE WHEN a.skip_reason = '' THEN a.sender_staff::bigint END,
                       CASE WHEN a.skip_reason = '' THEN COALESCE(a.to_address, '') ELSE '' END, %s,
                       CASE WHEN a.skip_reason = '' THEN 'queued' ELSE 'skipped' END, a.skip_reason, '', %s
                FROM ({audience_sql}) a
                ON CONFLICT (member_id, biz_date) DO NOTHING
                RETURNING status""",
            [today, channel, BODY, now, *audience_params],
        )
        written = [row[0] for row in cursor.fetchall()]
    summary: dict[str, object] = {"queued": written.count("queued"), "skipped": written.count("skipped"), **lapsed}
    if channel == Channel.SMS and not _sender:
        return {**summary, "sent": 0, "note": "尚无短信发送通道，提醒保持待发送"}
    return {**summary, **checkin_reminders_send(day=today)}


def checkin_reminders_interrupted_fail(*, now: dt.datetime) -> int:
    """Rows left sending past the lease (any day) become failed with the reason. Rows claimed
    before `claimed_at` existed count from when they were written."""
    return (
        CheckinReminder.objects.filter(status=CheckinReminder.Status.SENDING)
        .filter(Q(claimed_at__lt=now - SEND_LEASE) | Q(claimed_at__isnull=True, created_at__lt=now - SEND_LEASE))
        .update(status=CheckinReminder.Status.FAILED, error=INTERRUPTED)
    )


def _claim(day: dt.date, channels: list[str]) -> list[CheckinReminder]:
    with connection.cursor() as cursor:
        cursor.execute(
            f"""UPDATE {CheckinReminder._meta.db_table} SET status = 'sending', claimed_at = %s
                WHERE id IN (SELECT id FROM {CheckinReminder._meta.db_table}
                             WHERE biz_date = %s AND status = 'queued' AND channel = ANY(%s)
                             ORDER BY id LIMIT %s
                             FOR UPDATE SKIP LOCKED)
                RETURNING id""",
            [timezone.now(), day, channels, BATCH],
        )
        ids = [row[0] for row in cursor.fetchall()]
    return list(CheckinReminder.objects.filter(pk__in=ids).order_by("id"))


def checkin_reminders_send(*, day: dt.date) -> dict[str, int]:
    """Send the day's queued reminders, in batches. A member who since the reminder was written
    withdrew consent, lost their staff or checked in is skipped with that reason (the gates again,
    set-based per batch); a WeCom reminder goes through the member's staff as of now."""
    sent = failed = 0
    # SMS rows wait (queued) while no provider is registered.
    channels: list[str] = [Channel.WECOM, *([Channel.SMS] if _sender else [])]
    while batch := _claim(day, channels):
        by_channel: dict[str, list[CheckinReminder]] = {}
        for reminder in batch:
            by_channel.setdefault(reminder.channel, []).append(reminder)
        for channel, reminders in by_channel.items():
            now_as = {
                pk: (reason, staff_id, userid)
                for pk, reason, staff_id, userid in Member.objects.filter(
                    pk__in=[r.member_id for r in reminders], merged_into__isnull=True
                )
                .annotate(skip_reason=first_failed_gate(reminder_gates(channel, day=day), SKIP_REASONS))
                .values_list("pk", "skip_reason", "assigned_staff_id", "assigned_staff__wecom_userid")
            }
            outcomes: dict[int, tuple[str, str, str]] = {}  # reminder id → (status, error, msgid)
            todo: list[tuple[CheckinReminder, str]] = []  # with the sender's WeCom userid
            for reminder in reminders:
                reason, staff_id, userid = now_as.get(reminder.member_id, ("已合并到其他会员", None, ""))
                if reason:
                    outcomes[reminder.pk] = (CheckinReminder.Status.SKIPPED, reason, "")
                    continue
                if channel == Channel.WECOM and staff_id != reminder.staff_id:
                    CheckinReminder.objects.filter(pk=reminder.pk).update(staff_id=staff_id)
                todo.append((reminder, userid or ""))
            answers = _send_wecom(todo) if channel == Channel.WECOM else _send_sms([r for r, _ in todo])
            for reminder, _ in todo:
                msgid, error = answers.get(reminder.pk, ("", "发送通道无结果"))
                outcomes[reminder.pk] = (
                    CheckinReminder.Status.FAILED if error else CheckinReminder.Status.SENT,
                    error,
                    msgid,
                )
                sent, failed = sent + (not error), failed + bool(error)
            _record(outcomes)
    return {"sent": sent, "failed": failed}


def _record(outcomes: dict[int, tuple[str, str, str]]) -> None:
    """One UPDATE per distinct outcome (a group message shares its msgid), not one per row."""
    groups: dict[tuple[str, str, str], list[int]] = {}
    for pk, outcome in outcomes.items():
        groups.setdefault(outcome, []).append(pk)
    sent_at = timezone.now()
    for (status, error, msgid), ids in groups.items():
        CheckinReminder.objects.filter(pk__in=ids).update(
            status=status,
            error=error[:255],
            provider_msgid=msgid[:64],
            sent_at=sent_at if status == CheckinReminder.Status.SENT else None,
        )


def _send_wecom(todo: list[tuple[CheckinReminder, str]]) -> dict[int, tuple[str, str]]:
    if not todo:
        return {}
    outcomes = group_messages_send(
        [GroupMessage(reference=r.pk, sender=userid, external_userid=r.address, body=r.body) for r, userid in todo]
    )
    return {pk: (o.msgid, o.error) for pk, o in outcomes.items()}


def _send_sms(reminders: list[CheckinReminder]) -> dict[int, tuple[str, str]]:
    if not reminders:
        return {}
    results = _sender[0]([_message(r) for r in reminders])
    return {r.pk: ("", results[_message(r).reference]) for r in reminders if _message(r).reference in results}


def _message(reminder: CheckinReminder) -> ReminderMessage:
    return ReminderMessage(
        reference=f"checkin-reminder:{reminder.pk}",
        mobile=reminder.address,
        body=reminder.body + marketing_footer(member_id=reminder.member_id, channel="sms"),
    )
