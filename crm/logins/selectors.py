from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from .models import LockedLogin


def logins_locked_out() -> QuerySet[LockedLogin]:
    """Usernames refused now: as many failures as axes allows, the last one within the cool-off
    (axes' database handler counts the same way; older records no longer lock anything)."""
    return LockedLogin.objects.filter(
        failures_since_start__gte=settings.AXES_FAILURE_LIMIT,
        attempt_time__gte=timezone.now() - settings.AXES_COOLOFF_TIME,
    )
