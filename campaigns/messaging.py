"""The campaign outbox: messages written set-based by an occurrence run, then sent after commit.

Sending claims queued rows (UPDATE ... RETURNING, so two workers never take the same row),
re-checks consent at that moment, and records what the channel said. WeCom group messages go
out through each member's own staff: one add_msg_template per staff member and chunk.

An occurrence's sending runs through the brand's bulk pump (crm/tenancy/pump.py) as a chain of
numbered chunks (`campaigns.send_chunk`, SEND_CHAIN, the number in `summary["send_chunks"]`):
each sends up to SEND_CHUNK_BATCHES claimed batches, each batch's outcome recorded as it comes
back, then submits its successor if messages are still queued. A chunk delivered again after it
handed on is stale and sends nothing; one whose worker died is run again and claims only what is
still queued (rows it had claimed are failed after SEND_LEASE, never sent twice). A WeCom
frequency limit or transport failure ends the chunk with its batch put back; the sending is
handed to the pump again after a backoff (`campaigns.send_occurrence_messages`, at most
SEND_MAX_RETRIES times).
"""

import datetime as dt
import logging

from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, F, OuterRef, QuerySet
from django.utils import timezone

from consent.hooks import ConsentRevoked, on_withdraw
from consent.selectors import members_contactable
from consent.services import marketing_footer
from coupons.hooks import ReminderMessage, ReminderSent
from crm.tenancy.pump import BulkChain
from members.services.points import member_id_ranges
from wecom.messages import wecom_text

from . import tasks
from .hooks import GroupMessagesDelivered, group_messages_delivered_notify_in_transaction
from .models import Campaign, Occurrence, OutboxMessage, SmsInboundReply
from .selectors import CHANNEL_PURPOSE
from .sms import SmsMessage, SmsReply, sms_provider

logger = logging.getLogger(__name__)

# WeCom accepts up to 10,000 external contacts per add_msg_template; smaller chunks keep one
# failed call from holding back many members.
WECOM_CHUNK = 1000
SMS_CHUNK = 500
# Points expiring within this many days are what {expiring_points} shows.
EXPIRING_SOON_DAYS = 30
# Claimed batches per pump chunk of a sending: 10,000 WeCom contacts or 5,000 SMS, a few seconds.
SEND_CHUNK_BATCHES = 10
# An occurrence's chain of send chunks: task(occurrence_id, number, attempt).
SEND_CHAIN = BulkChain(tasks.send_chunk.name, Occurrence, field="summary", key="send_chunks")


# The message body, rendered in SQL for every recipient at once (and for the preview's sample
# member, so both always agree). Aliases: m = members_member, t = members_tier.
BODY_SQL = """
    replace(replace(replace(replace(%s,
        '{name}', COALESCE(NULLIF(m.name, ''), '会员')),
        '{tier}', COALESCE(t.name, '')),
        '{balance}', m.points_balance::text),
        '{expiring_points}', COALESCE((
            SELECT sum(l.remaining) FROM members_pointslot l
            WHERE l.member_id = m.id AND l.remaining > 0 AND NOT l.pending AND l.expires_at < %s), 0)::text)
"""


def _body_params(template: str) -> list[str | dt.datetime]:
    return [template, timezone.now() + dt.timedelta(days=EXPIRING_SOON_DAYS)]


def message_render_sample(*, template: str, member_id: int) -> str:
    """The message as one member would receive it (for the campaign preview)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {BODY_SQL} FROM members_member m LEFT JOIN members_tier t ON t.id = m.tier_id WHERE m.id = %s",  # noqa: S608
            [*_body_params(template), member_id],
        )
        row = cursor.fetchone()
    return row[0] if row else template


def outbox_write(*, occurrence: Occurrence, id_range: tuple[int, int] | None = None) -> dict[str, int]:
    """Queue one message per non-hold-out recipient, rendered in SQL (placeholders {name},
    {tier}, {balance}, {expiring_points}). Members the channel cannot reach are written as
    skipped with the reason, so the results add up. `id_range` ([lo, hi) member ids): only those
    recipients, in one statement (a run's chunk)."""
    campaign = occurrence.campaign
    if campaign.message_channel == Campaign.MessageChannel.NONE:
        return {"queued": 0}
    channel = campaign.message_channel
    purpose = CHANNEL_PURPOSE[channel]
    if channel == Campaign.MessageChannel.WECOM:
        address_sql = (
            "(SELECT i.value FROM members_identity i WHERE i.member_id = m.id "
            "AND i.kind = 'wecom_external_userid' ORDER BY i.id LIMIT 1)"
        )
        staff_sql = "m.assigned_staff_id"
    else:
        address_sql = "NULLIF(m.mobile, '')"
        staff_sql = "NULL::bigint"
    # One statement per member id range (ascending): the rendering join and its sort stay in
    # memory whatever the audience size.
    queued = 0
    with connection.cursor() as cursor:
        for lo, hi in member_id_ranges(cursor) if id_range is None else [id_range]:
            cursor.execute(
                f"""
                WITH rendered AS (
                    SELECT m.id AS member_id, {staff_sql} AS staff_id, {address_sql} AS address,
                           {BODY_SQL} AS body
                    FROM campaigns_recipient r
                    JOIN members_member m ON m.id = r.member_id
                    LEFT JOIN members_tier t ON t.id = m.tier_id
                    WHERE r.occurrence_id = %s AND NOT r.holdout AND r.member_id >= %s AND r.member_id < %s
                ),
                queued AS (
                    INSERT INTO campaigns_outboxmessage
                        (occurrence_id, member_id, channel, purpose, staff_id, address, body, status,
                         provider_msgid, error, created_at, updated_at)
                    SELECT %s, member_id, %s, %s, staff_id, COALESCE(address, ''), body,
                           CASE WHEN address IS NULL THEN 'skipped' ELSE 'queued' END,
                           '', CASE WHEN address IS NULL THEN 'no address for this channel' ELSE '' END,
                           now(), now()
                    FROM rendered
                    ON CONFLICT (occurrence_id, member_id) DO NOTHING
                    RETURNING 1
                )
                SELECT count(*) FROM queued
                """,  # noqa: S608 - only fixed SQL fragments are interpolated
                [*_body_params(campaign.message_template), occurrence.pk, lo, hi, occurrence.pk, channel, purpose],
            )
            # Counted from RETURNING: through a Citus coordinator an INSERT … SELECT reports the
            # rows it sent, conflicts included (docs/scale-out.md).
            queued += cursor.fetchone()[0]
    return {"queued": queued}


def _claim(occurrence_id: int, limit: int) -> list[OutboxMessage]:
    """Take up to `limit` queued messages for sending (SKIP LOCKED: concurrent senders split
    the work instead of sending twice)."""
    with transaction.atomic():
        ids = list(
            OutboxMessage.objects.select_for_update(skip_locked=True)
            .filter(occurrence_id=occurrence_id, status=OutboxMessage.Status.QUEUED)
            .order_by("staff_id", "id")
            .values_list("pk", flat=True)[:limit]
        )
        OutboxMessage.objects.filter(pk__in=ids).update(status=OutboxMessage.Status.SENDING, updated_at=timezone.now())
    return list(OutboxMessage.objects.filter(pk__in=ids).select_related("staff").order_by("staff_id", "id"))


def outbox_cancel_not_contactable(*, occurrence: Occurrence, batch: list[OutboxMessage]) -> list[OutboxMessage]:
    """Consent is checked again at send time, for each claimed batch as it is about to go out:
    anyone no longer contactable is cancelled; the rest of the batch is returned. (Per batch, not
    over the whole outbox up front: a sending is many pump chunks, and each would read it all.)"""
    purpose = CHANNEL_PURPOSE[occurrence.campaign.message_channel]
    contactable = set(
        members_contactable(purpose=purpose)
        .filter(pk__in=[message.member_id for message in batch])
        .values_list("pk", flat=True)
    )
    gone = [message.pk for message in batch if message.member_id not in contactable]
    if gone:
        OutboxMessage.objects.filter(pk__in=gone).update(
            status=OutboxMessage.Status.CANCELLED, error="consent no longer given", updated_at=timezone.now()
        )
    return [message for message in batch if message.member_id in contactable]


def _mark(messages: list[OutboxMessage], *, status: str, msgid: str = "", error: str = "") -> None:
    OutboxMessage.objects.filter(pk__in=[m.pk for m in messages]).update(
        status=status,
        provider_msgid=msgid,
        error=error[:255],
        sent_at=timezone.now() if status == OutboxMessage.Status.SENT else None,
        updated_at=timezone.now(),
    )


def sms_text(message: OutboxMessage) -> str:
    """What the member receives by SMS: the body and the 退订 footer (reply T, or the signed link to
    their own preferences page). Added at send time; the outbox keeps the body."""
    return message.body + marketing_footer(member_id=message.member_id, channel="sms")


def _send_sms(batch: list[OutboxMessage]) -> None:
    results = sms_provider().send_batch(
        [SmsMessage(reference=str(m.pk), mobile=m.address, body=sms_text(m)) for m in batch]
    )
    by_reference = {result.reference: result for result in results}
    now = timezone.now()
    accepted: list[OutboxMessage] = []
    failed: dict[str, list[OutboxMessage]] = {}
    for message in batch:
        result = by_reference.get(str(message.pk))
        if result is not None and result.accepted:
            message.status, message.provider_msgid, message.sent_at, message.updated_at = (
                OutboxMessage.Status.SENT,
                result.provider_msgid,
                now,
                now,
            )
            accepted.append(message)
        else:
            failed.setdefault(result.error if result else "no result", []).append(message)
    # A handful of statements per chunk, not one per message.
    OutboxMessage.objects.bulk_update(accepted, ["status", "provider_msgid", "sent_at", "updated_at"])
    for error, messages in failed.items():
        _mark(messages, status=OutboxMessage.Status.FAILED, error=error)


def _send_wecom(batch: list[OutboxMessage]) -> None:
    from wecom.client import WecomClient
    from wecom.services import wecom_config_get

    config = wecom_config_get()
    if config is None:
        _mark(batch, status=OutboxMessage.Status.FAILED, error="WeCom is not configured for this brand")
        return
    by_staff: dict[int, list[OutboxMessage]] = {}
    for message in batch:
        by_staff.setdefault(message.staff_id or 0, []).append(message)
    with WecomClient.for_config(config) as client:
        for messages in by_staff.values():
            sender = messages[0].staff.wecom_userid if messages[0].staff else ""
            if not sender:
                _mark(messages, status=OutboxMessage.Status.SKIPPED, error="member has no staff on WeCom")
                continue
            # One group message per staff and body; personalised bodies differ, so group by body too.
            by_body: dict[str, list[OutboxMessage]] = {}
            for message in messages:
                by_body.setdefault(message.body, []).append(message)
            for body, same in by_body.items():
                result = client.add_msg_template(
                    sender=sender, external_userids=[m.address for m in same], text=wecom_text(body)
                )
                failed = set(result["fail_list"])
                _mark(
                    [m for m in same if m.address not in failed],
                    status=OutboxMessage.Status.SENT,
                    msgid=result["msgid"],
                )
                _mark(
                    [m for m in same if m.address in failed],
                    status=OutboxMessage.Status.FAILED,
                    msgid=result["msgid"],
                    error="refused by WeCom (fail_list)",
                )


# A claimed chunk is sent within seconds; rows still "sending" after this were claimed by a worker
# that died between the claim and recording the channel's answer.
SEND_LEASE = dt.timedelta(minutes=15)


def _interrupted_sends_fail(occurrence_id: int) -> int:
    """Whether the channel got those messages is unknown, so they are marked failed (visible in
    the results) rather than sent again: a member must never receive a campaign message twice."""
    return OutboxMessage.objects.filter(
        occurrence_id=occurrence_id,
        status=OutboxMessage.Status.SENDING,
        updated_at__lt=timezone.now() - SEND_LEASE,
    ).update(status=OutboxMessage.Status.FAILED, error="interrupted while sending", updated_at=timezone.now())


def outbox_send(*, occurrence_id: int, batches: int | None = None) -> dict[str, int]:
    """Send what is queued for an occurrence, chunk by chunk (at most `batches` chunks). Safe to
    run twice or in parallel: only claimed rows are sent, and a sent row is never claimed again."""
    occurrence = Occurrence.objects.select_related("campaign").get(pk=occurrence_id)
    _interrupted_sends_fail(occurrence_id)
    channel = occurrence.campaign.message_channel
    chunk = WECOM_CHUNK if channel == Campaign.MessageChannel.WECOM else SMS_CHUNK
    sent = claimed = cancelled = 0
    while (batches is None or claimed < batches) and (claimed_batch := _claim(occurrence_id, chunk)):
        claimed += 1
        batch = outbox_cancel_not_contactable(occurrence=occurrence, batch=claimed_batch)
        cancelled += len(claimed_batch) - len(batch)
        if not batch:
            continue
        try:
            if channel == Campaign.MessageChannel.WECOM:
                _send_wecom(batch)
            else:
                _send_sms(batch)
        except Exception:
            # Put the rest back so a retry picks them up; what was marked stays marked.
            OutboxMessage.objects.filter(pk__in=[m.pk for m in batch], status=OutboxMessage.Status.SENDING).update(
                status=OutboxMessage.Status.QUEUED
            )
            raise
        sent += len(batch)
    return {"cancelled": cancelled, "attempted": sent}


def outbox_send_start(*, occurrence: Occurrence, attempt: int = 0) -> None:
    """Hand the occurrence's sending to the brand's pump, from the caller's transaction: a fresh
    chain (any chunk of an older one goes stale)."""
    SEND_CHAIN.submit_next(occurrence, attempt)


def outbox_send_submit(*, occurrence_id: int, attempt: int = 0) -> str:
    """`campaigns.send_occurrence_messages`: start the sending through the pump (after a retry's
    wait, from the lost-messages sweep, or a message queued before the pump)."""
    return SEND_CHAIN.restart(occurrence_id, attempt, done=lambda occurrence: False)


def outbox_send_chunk(*, occurrence_id: int, chunk: int, attempt: int = 0) -> str:
    """One pump chunk of a sending: up to SEND_CHUNK_BATCHES batches, then the next chunk if
    messages are still queued. "continued", "done", "stale" (a later chunk was submitted), or
    "retrying" (a retryable WeCom or transport failure: handed to the pump again after a backoff;
    past SEND_MAX_RETRIES the failure is raised)."""
    from wecom.errors import WecomError

    occurrence = Occurrence.objects.get(pk=occurrence_id)
    if SEND_CHAIN.stale(occurrence, chunk):
        return "stale"
    try:
        outbox_send(occurrence_id=occurrence_id, batches=SEND_CHUNK_BATCHES)
    except WecomError as exc:
        if not exc.retryable or attempt >= tasks.SEND_MAX_RETRIES:
            raise
        countdown = tasks.send_retry_countdown(attempt)
        logger.warning("occurrence %s: sending again in %ss (%s)", occurrence_id, countdown, exc)
        tasks.send_occurrence_messages.apply_async(args=(occurrence_id, attempt + 1), countdown=countdown)
        return "retrying"
    if not OutboxMessage.objects.filter(occurrence_id=occurrence_id, status=OutboxMessage.Status.QUEUED).exists():
        return "done"
    with transaction.atomic():
        SEND_CHAIN.submit_next(occurrence, attempt, after=chunk)
    return "continued"


# A send task is dispatched when the messages step commits and normally starts within seconds.
# Messages still untouched this long after they were queued had their task lost (the broker was
# down at the commit, a message was dropped): crm/celery.py leaves those to this sweep.
SEND_LOST_AFTER = dt.timedelta(minutes=15)
SEND_LOST_LOOKBACK = dt.timedelta(days=7)


def occurrences_with_unsent_messages(*, now: dt.datetime) -> list[int]:
    """Occurrences of the last week with messages no send ever claimed: still queued and never
    updated since they were written (a claim stamps updated_at, and a send that failed puts its
    rows back to queued with that stamp, so a refused or backing-off send is not picked up here —
    its own retries own it), or with messages left sending past the lease (a send of the
    occurrence marks those failed, never sends them again)."""
    never_claimed = OutboxMessage.objects.filter(
        occurrence=OuterRef("pk"),
        status=OutboxMessage.Status.QUEUED,
        updated_at=F("created_at"),
        created_at__lt=now - SEND_LOST_AFTER,
    )
    # Rows a dead worker left "sending" past the lease: only a send of their occurrence marks them
    # failed (_interrupted_sends_fail), and when the dead worker had claimed the last chunk no
    # send of it would ever run again — they would show 发送中 for ever.
    interrupted = OutboxMessage.objects.filter(
        occurrence=OuterRef("pk"), status=OutboxMessage.Status.SENDING, updated_at__lt=now - SEND_LEASE
    )
    recent = Occurrence.objects.filter(created_at__gte=now - SEND_LOST_LOOKBACK)
    # A sending waiting its turn in the pump (behind other brands' work) is not lost.
    recent = recent.exclude(pk__in=SEND_CHAIN.waiting())
    return list(recent.filter(Exists(never_claimed) | Exists(interrupted)).order_by("pk").values_list("pk", flat=True))


def outbox_for_members(*, member_ids: QuerySet, purposes: tuple[str, ...]) -> QuerySet[OutboxMessage]:
    return OutboxMessage.objects.filter(
        member_id__in=member_ids, purpose__in=purposes, status=OutboxMessage.Status.QUEUED
    )


@on_withdraw
def cancel_queued_messages(event: ConsentRevoked) -> None:
    """A withdrawal takes effect at once: nothing queued for that purpose is sent afterwards."""
    outbox_for_members(member_ids=event.member_ids, purposes=event.purposes).update(
        status=OutboxMessage.Status.CANCELLED, error=f"consent {event.reason}", updated_at=timezone.now()
    )


# WeCom reports per customer whether a group message arrived: 1 sent, 2 not a friend, 3 over the
# customer's group-message limit, 0 not sent yet (the staff member has not tapped "send").
WECOM_SEND_STATUS = {
    1: (OutboxMessage.Status.DELIVERED, ""),
    2: (OutboxMessage.Status.FAILED, "not a friend of the sender any more"),
    3: (OutboxMessage.Status.FAILED, "over the customer's group message limit"),
}
# Staff may confirm a group message days later; after this we stop asking.
WECOM_RESULTS_WINDOW_DAYS = 7


def wecom_results_poll() -> dict[str, int]:
    """Ask WeCom how each submitted group message went and record delivered / failed."""
    from wecom.client import WecomClient
    from wecom.services import wecom_config_get

    config = wecom_config_get()
    if config is None:
        return {"checked": 0, "updated": 0}
    since = timezone.now() - dt.timedelta(days=WECOM_RESULTS_WINDOW_DAYS)
    pending = (
        OutboxMessage.objects.filter(
            channel=Campaign.MessageChannel.WECOM, status=OutboxMessage.Status.SENT, sent_at__gte=since
        )
        .exclude(provider_msgid="")
        .values_list("provider_msgid", "staff__wecom_userid")
        .distinct()
    )
    checked = updated = 0
    with WecomClient.for_config(config) as client:
        for msgid, userid in pending:
            checked += 1
            by_outcome: dict[tuple[str, str], list[str]] = {}
            delivered_at: dict[str, dt.datetime] = {}
            for row in client.get_groupmsg_send_result(msgid=msgid, userid=userid):
                outcome = WECOM_SEND_STATUS.get(int(row.get("status", 0)))
                if outcome is None:
                    continue
                by_outcome.setdefault(outcome, []).append(row["external_userid"])
                if row.get("send_time"):
                    delivered_at[row["external_userid"]] = dt.datetime.fromtimestamp(int(row["send_time"]), tz=dt.UTC)
            for (status, error), addresses in by_outcome.items():
                rows = OutboxMessage.objects.filter(
                    provider_msgid=msgid, address__in=addresses, status=OutboxMessage.Status.SENT
                )
                if status == OutboxMessage.Status.DELIVERED:
                    # One timestamp per group message is what WeCom reports in practice.
                    moment = next(iter(delivered_at.values()), timezone.now())
                    with transaction.atomic():
                        ids = list(rows.select_for_update().values_list("pk", flat=True))
                        updated += OutboxMessage.objects.filter(pk__in=ids).update(
                            status=status, delivered_at=moment, updated_at=timezone.now()
                        )
                        if ids:
                            group_messages_delivered_notify_in_transaction(
                                GroupMessagesDelivered(
                                    rows=("SELECT unnest(%s::bigint[])", (ids,)),
                                )
                            )
                else:
                    updated += rows.update(status=status, error=error, updated_at=timezone.now())
    return {"checked": checked, "updated": updated}


def sms_reply_receive(reply: SmsReply) -> int:
    """A member replied to a marketing SMS: an unsubscribe word withdraws SMS marketing (at once,
    queued messages cancelled by consent's on_withdraw hook) for every member with that mobile.
    Returns how many members it withdrew; anything else is ignored (0). Safe to receive twice."""
    from consent.models import ConsentRecord, Purpose
    from consent.services import consent_withdraw
    from consent.types import ConsentEvidence
    from members.models import Identity, IdentityKind
    from members.phones import mobile_normalize_or_none

    from .sms import UNSUBSCRIBE_REPLIES

    mobile = mobile_normalize_or_none(reply.mobile)
    if mobile is None or reply.text.strip().upper() not in UNSUBSCRIBE_REPLIES:
        return 0
    evidence = ConsentEvidence(
        channel=ConsentRecord.Channel.PARTNER_API,
        partner_reference=reply.reference[:128],
        extra={"via": "sms_reply", "reply": reply.text.strip()[:20]},
    )
    member_ids = Identity.objects.filter(kind=IdentityKind.MOBILE, value=mobile).values_list("member_id", flat=True)
    for member_id in member_ids:
        consent_withdraw(
            member_id=member_id,
            purpose=Purpose.MARKETING_SMS,
            evidence=evidence,
            actor=f"短信回复 {reply.text.strip()[:10]}",
        )
    return len(member_ids)


def sms_reply_callback_receive(reply: SmsReply) -> tuple[bool, int]:
    """One reply from the provider's callback, at most once per provider message id: the first
    delivery records it (SmsInboundReply, unique on the id) and runs sms_reply_receive in the
    same transaction; a retry of the callback (or a concurrent one, which waits on the unique
    index) changes nothing. Returns (first time, members withdrawn)."""
    if SmsInboundReply.objects.filter(provider_msgid=reply.reference).exists():
        return False, 0
    try:
        with transaction.atomic():
            row = SmsInboundReply.objects.create(
                provider_msgid=reply.reference,
                mobile=reply.mobile[:20],
                text=reply.text[:200],
                received_at=timezone.now(),
            )
            row.withdrawn = sms_reply_receive(reply)
            row.save(update_fields=["withdrawn"])
    except IntegrityError:  # the same message id delivered twice at once: the other one counted
        return False, 0
    return True, row.withdrawn


def coupon_reminders_sms(messages: list[ReminderMessage]) -> list[ReminderSent]:
    """coupons' expiry reminders go out through the campaigns' SMS provider, with the same 退订
    footer as every marketing SMS (registered in CampaignsConfig.ready)."""
    if not messages:
        return []
    results = sms_provider().send_batch(
        [
            SmsMessage(
                reference=f"coupon-reminder:{m.reference}",
                mobile=m.mobile,
                body=m.body + marketing_footer(member_id=m.member_id, channel="sms"),
            )
            for m in messages
        ]
    )
    return [
        ReminderSent(
            reference=r.reference.removeprefix("coupon-reminder:"),
            accepted=r.accepted,
            provider_msgid=r.provider_msgid,
            error=r.error,
        )
        for r in results
    ]
