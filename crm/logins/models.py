from axes.models import AccessAttempt
from django.utils.translation import gettext_lazy as _


class LockedLogin(AccessAttempt):
    """axes' failed-login record of one username, under a name people read (登录锁定)."""

    class Meta:
        proxy = True
        verbose_name = _("登录锁定")
        verbose_name_plural = _("登录锁定")
