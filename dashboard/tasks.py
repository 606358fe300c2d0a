from celery import shared_task

from .services import dashboard_refresh


@shared_task(name="dashboard.refresh")
def refresh() -> int:
    """Hourly, in each brand (crm.tenancy fan-out): rebuild the dashboard aggregates."""
    return dashboard_refresh().duration_ms
