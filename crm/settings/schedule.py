"""The beat schedule: every periodic job, in one place.

Brand jobs are one public entry each, fanned out to every ready brand (crm/tenancy/tasks.py
`run_in_every_brand`); jobs that care about the brand's own day run hourly and let each brand
act from its own hour (brand time), so the schedule below is in the platform's zone."""

import os

from celery.schedules import crontab


def _in_every_brand(task: str, schedule: float | crontab) -> dict[str, object]:
    return {"task": "tenancy.run_in_every_brand", "args": [task], "schedule": schedule}


CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    # --- every brand's scheduled campaigns are rows of one indexed table (tenancy.DueSlot), not beat
    # entries: this one entry claims the due ones (crm/tenancy/slots.py). A tick nobody took within
    # its interval is dropped (the next one claims the same rows).
    "tenancy-dispatch-due-slots": {
        "task": "tenancy.dispatch_due_slots",
        "schedule": float(os.environ.get("DUE_SLOT_DISPATCH_SECONDS", "2")),
        "options": {"expires": 10},
    },
    # Bulk chunks whose message was lost are queued again; brands with waiting chunks pumped.
    "tenancy-bulk-sweep": {"task": "tenancy.bulk_sweep", "schedule": 60.0, "options": {"expires": 120}},
    # --- partner API and webhooks (entry and task names keep their api. prefix: webhooks/tasks.py)
    "api.idempotency_cleanup_all_brands": {"task": "api.idempotency_cleanup_all_brands", "schedule": 3600.0},
    # Deliveries whose task was lost (webhooks.services.WEBHOOK_STALLED_AFTER) are sent again.
    "api.webhook_sweep_all_brands": {"task": "api.webhook_sweep_all_brands", "schedule": 600.0},
    # --- members: loyalty at night, off peak. Release before expiry, expiry before tiers.
    "members-release-pending-points": _in_every_brand("members.release_pending_points", crontab(hour=2, minute=15)),
    "members-expire-points": _in_every_brand("members.expire_points", crontab(hour=2, minute=30)),
    "members-reevaluate-tiers": _in_every_brand("members.reevaluate_tiers", crontab(hour=2, minute=45)),
    # Lifecycle stages drop back as purchases leave the window: each brand refreshes its day from
    # MEMBERS_LIFECYCLE_BRAND_HOUR brand time, or resumes an interrupted run (members/services/lifecycle.py).
    "members-refresh-lifecycle": _in_every_brand("members.refresh_lifecycle", crontab(minute=5)),
    # --- consent: the current-state table agrees with the history (history wins).
    "consent-state-audit": _in_every_brand("consent.state_audit", crontab(hour=3, minute=30)),
    # --- WeCom: transfers settle within 24 h (polling every 15 minutes spares the corp's API
    # quota); unowned members are distributed nightly, after the day's callbacks and enrolments.
    "wecom-transfers-poll": _in_every_brand("wecom.transfers_poll", 900.0),
    "wecom-prospects-link": _in_every_brand("wecom.prospects_link_pending", 3600.0),
    "wecom-members-unassigned-distribute": _in_every_brand(
        "wecom.members_unassigned_distribute", crontab(hour=3, minute=10)
    ),
    # --- coupons: past their end → EXPIRED (a coupon's end is checked at use anyway), and held
    # manual issues (发券审批) past the brand's issue_request_days; expiry reminders hourly, each
    # brand from its own reminder hour and never twice (coupons/reminders.py).
    "coupons-expire": _in_every_brand("coupons.expire", 900.0),
    "coupons-remind": _in_every_brand("coupons.remind_expiring", crontab(minute=20)),
    # --- engagement: each brand releases its birthday days up to its own today (catching up).
    "engagement-birthday-release": _in_every_brand("engagement.birthday_release", crontab(minute=10)),
    "engagement-referral-release": _in_every_brand("engagement.referral_release", crontab(minute=25)),
    "engagement-checkin-reminders": _in_every_brand("engagement.checkin_reminders", crontab(minute=2)),
    # --- campaigns: occurrences that failed or stopped half-way, run again within the grace period
    # (campaigns/tasks.py), sends lost after the commit, and the delivery results of WeCom group
    # messages.
    "campaigns-catch-up": _in_every_brand("campaigns.catch_up", 600.0),
    "campaigns-send-lost-messages": _in_every_brand("campaigns.send_lost_messages", 600.0),
    "campaigns-poll-wecom-results": _in_every_brand("campaigns.poll_wecom_results", 900.0),
    # --- background exports (performance report, referral graph): files past the brand's
    # export_keep_days deleted, the rows marked 已过期; builds a killed worker left running failed
    # (crm/jobs/exports.py). Hourly: a file goes within the hour its days end.
    "jobs-exports-expire": _in_every_brand("jobs.exports_expire", crontab(minute=50)),
    # --- member centre: expired member codes purged.
    "membercentre-codes-purge": _in_every_brand("membercentre.codes_purge", crontab(hour=4, minute=40)),
    # --- one item, one code: yesterday's diversion digest from SCANCODES_DIGEST_BRAND_HOUR brand time.
    "scancodes-diversion-digest": _in_every_brand("scancodes.diversion_digest_send", crontab(minute=20)),
    # --- staff performance: the report rollups up to yesterday, after midnight.
    "performance-rollups": _in_every_brand("performance.rollups_refresh", crontab(hour=1, minute=20)),
    # --- dashboard: its aggregates live in each brand's schema and are rebuilt hourly, so a page
    # view never scans members or orders (dashboard/services.py).
    "dashboard-refresh": _in_every_brand("dashboard.refresh", 3600.0),
}
