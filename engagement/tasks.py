"""Celery tasks of the engagement app: the birthday job, run in one brand's schema (the beat entry
fans out with tenancy.run_in_every_brand)."""

from celery import shared_task

from crm.jobs.services import job_run_record


@shared_task(name="engagement.birthday_release")
def birthday_release() -> dict[str, object]:
    from .services.birthday import birthday_release_due

    with job_run_record(name="engagement.birthday_release") as run:
        run.summary = birthday_release_due()
    return run.summary


@shared_task(name="engagement.referral_reward")
def referral_reward_task(referral_id: int) -> str:
    """Both sides' rewards of one qualified referral (sent after the qualifying order commits)."""
    from .services.referral import referral_reward

    return referral_reward(referral_id=referral_id).status


@shared_task(name="engagement.referral_release")
def referral_release() -> dict[str, object]:
    """Hourly: held referrals past their return window, and qualified ones whose task was lost."""
    from .services.referral import referral_release_due

    with job_run_record(name="engagement.referral_release") as run:
        run.summary = dict(referral_release_due())
    return run.summary


@shared_task(name="engagement.checkin_reminders")
def checkin_reminders() -> dict[str, object]:
    """Hourly: today's check-in reminders once the brand's reminder hour has come."""
    from .services.reminders import checkin_reminders_due

    with job_run_record(name="engagement.checkin_reminders") as run:
        run.summary = checkin_reminders_due()
    return run.summary


@shared_task(name="engagement.referral_export_run", soft_time_limit=600, time_limit=660)
def referral_export_run_task(export_id: int) -> str:
    """Build one queued referral graph export (crm.jobs.exports claims it: built once)."""
    from .services.referral_export import referral_export_run

    return referral_export_run(export_id=export_id)
