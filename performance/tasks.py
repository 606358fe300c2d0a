"""Celery tasks of staff performance: they take ids and call a service."""

from celery import shared_task


@shared_task(name="performance.report_export_run", soft_time_limit=600, time_limit=660)
def report_export_run_task(export_id: int) -> str:
    from .services import report_export_run

    return report_export_run(export_id=export_id)
