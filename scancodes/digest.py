"""The daily diversion digest (窜货日报), sent to the brand: DOMAIN.md says a scan far from the
dealer's region "alerts the brand" (the issue: "an alert for the brand — list and daily digest").
The brand's people who handle diversion are those who may see the alerts in the back office
(permission scancodes.view_diversionalert: 品牌管理员 and 总部营销 by role, members/roles.py);
each active one with an e-mail address gets it. There is no other staff channel in the product
yet (WeCom app messages are not built), so e-mail it is (EMAIL_BACKEND from the settings).

Schedule: the beat entry `scancodes-diversion-digest` fans out hourly to every brand
(tenancy.run_in_every_brand). Each brand's task sends the digest of its *yesterday* from
SCANCODES_DIGEST_BRAND_HOUR o'clock in the brand's own time zone (08:00 by default), so a brand
in Shanghai and one in Berlin each get theirs in the morning, about their own calendar day.

Once per day: DigestSend has one row per day (unique). The task inserts it if missing, then locks
it (FOR UPDATE SKIP LOCKED: a second worker at the same tick skips it) and sends only while it is
pending; the send and the row's "sent" commit together. A failed send leaves it pending with the
error and the next hourly tick tries again. A worker dying between the mail server's acceptance
and the commit would send once more at the next tick (at least once, never silently lost).
"""

import datetime as dt
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import connection, transaction
from django.utils import timezone

from crm.tenancy.zones import brand_zone

from .models import DigestSend, DiversionAlert
from .selectors import DigestLine, diversion_digest

DIGEST_PERMISSION = "scancodes.view_diversionalert"
DIGEST_PATH = "/admin/scancodes/diversionalert/digest/"  # the admin's page of one day's digest


def digest_day_due(*, now: dt.datetime) -> dt.date:
    """The brand day whose digest is due at `now`: yesterday from the configured hour (brand
    time), the day before yesterday before it."""
    local = now.astimezone(brand_zone())
    days = 1 if local.hour >= settings.SCANCODES_DIGEST_BRAND_HOUR else 2
    return local.date() - dt.timedelta(days=days)


def digest_recipients() -> list[str]:
    """E-mail addresses of the brand's active users who may see diversion alerts."""
    users = get_user_model().objects.with_perm(
        DIGEST_PERMISSION, include_superusers=True, backend="django.contrib.auth.backends.ModelBackend"
    )
    return sorted({user.email.strip() for user in users.filter(is_active=True) if (user.email or "").strip()})


def digest_text(*, day: dt.date, lines: list[DigestLine]) -> tuple[str, str]:
    """Subject and body of the digest (Chinese, like the back office)."""
    brand = getattr(getattr(connection, "tenant", None), "name", "") or ""
    total = sum(line.alerts for line in lines)
    subject = (
        f"【{brand}】窜货日报 {day:%Y-%m-%d}：{total} 条预警" if brand else f"窜货日报 {day:%Y-%m-%d}：{total} 条预警"
    )
    body = [f"{day:%Y年%m月%d日}（品牌时间）共 {total} 条窜货预警，涉及 {len(lines)} 个经销商：", ""]
    body += [
        f"· {line.dealer}（计划区域 {line.expected_region}）：{line.alerts} 条，{line.times}，扫码地 {line.cities}"
        for line in lines
    ]
    body += [
        "",
        "时间均为品牌当地时间。消费者的奖励照常发放。",
        f"请在后台「一物一码 › 窜货预警 › 窜货日报」查看当日日报和明细并处理（{DIGEST_PATH}?day={day:%Y-%m-%d}）。",
    ]
    return subject, "\n".join(body)


def diversion_digest_send_due(*, now: dt.datetime | None = None) -> dict[str, Any]:
    """Send the due day's digest if it has not been sent (module docstring). Returns what
    happened: {"day", "outcome": sent | empty | already_done | busy | no_recipients | failed}."""
    now = now or timezone.now()
    day = digest_day_due(now=now)
    DigestSend.objects.get_or_create(day=day)
    with transaction.atomic():
        row = DigestSend.objects.select_for_update(skip_locked=True).filter(day=day).first()
        if row is None:
            return {"day": day.isoformat(), "outcome": "busy"}
        if row.status != DigestSend.Status.PENDING:
            return {"day": day.isoformat(), "outcome": "already_done"}
        lines = diversion_digest(day=day)
        row.alerts = DiversionAlert.objects.filter(biz_date=day).count()
        row.attempts += 1
        if not lines:
            row.status = DigestSend.Status.EMPTY
            row.save(update_fields=["alerts", "attempts", "status"])
            return {"day": day.isoformat(), "outcome": "empty"}
        recipients = digest_recipients()
        if not recipients:
            # Kept pending: the next tick sends it once someone with the permission has an address.
            row.last_error = "没有可接收日报的人员（需有查看窜货预警权限并填写邮箱）"
            row.save(update_fields=["alerts", "attempts", "last_error"])
            return {"day": day.isoformat(), "outcome": "no_recipients"}
        subject, body = digest_text(day=day, lines=lines)
        try:
            send_mail(subject, body, None, recipients)
        except Exception as exc:  # the mail server's refusal: recorded, tried again next hour
            row.last_error = f"{type(exc).__name__}: {exc}"[:255]
            row.save(update_fields=["alerts", "attempts", "last_error"])
            return {"day": day.isoformat(), "outcome": "failed"}
        row.status = DigestSend.Status.SENT
        row.recipients = recipients
        row.sent_at = timezone.now()
        row.last_error = ""
        row.save(update_fields=["alerts", "attempts", "status", "recipients", "sent_at", "last_error"])
    return {"day": day.isoformat(), "outcome": "sent", "recipients": len(recipients), "alerts": row.alerts}
