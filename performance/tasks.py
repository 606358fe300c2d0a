"""Celery tasks of staff performance: they take ids and call a service."""

from celery import shared_task


@shared_task(name="performance.report_export_run", soft_time_limit=600, time_limit=660)
def report_export_run_task(export_id: int) -> str:
    from .services import report_export_run

    return report_export_run(export_id=export_id)


@shared_task(name="performance.rollups_refresh", soft_time_limit=1800, time_limit=1900)
def rollups_refresh_task() -> str:
    """Nightly, in each brand (crm.tenancy fan-out): the report rollups up to yesterday."""
    from .rollups import rollups_refresh

    result = rollups_refresh()
    return f"{result.first}..{result.through}: {result.day_rows} day rows, {result.served_rows} served rows"
