from celery import shared_task


@shared_task(name="dashboard.refresh")
def refresh() -> int:
    """Hourly, in each brand (crm.tenancy fan-out): rebuild the dashboard aggregates."""
    from .services import dashboard_refresh

    return dashboard_refresh().duration_ms
