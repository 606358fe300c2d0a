from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class MembersConfig(AppConfig):
    name = "members"
    verbose_name = "会员"

    def ready(self) -> None:
        from django.core import checks

        from .scoping import check_member_admins_scoped

        # Roles pick up permissions of models added by later migrations of any app. This is
        # provisioning plumbing (what Django itself does for permissions after migrate), not
        # business logic: no member data is touched.
        post_migrate.connect(_roles_sync_after_migrate, sender=self, dispatch_uid="members.roles_sync")
        checks.register(check_member_admins_scoped, checks.Tags.admin)


def _roles_sync_after_migrate(sender: AppConfig, **kwargs: Any) -> None:
    from django.apps import apps as global_apps
    from django_tenants.utils import get_public_schema_name

    from crm.db import connection

    from .roles import roles_sync

    if connection.schema_name == get_public_schema_name():
        return  # roles belong to brands; the public schema has platform operators only

    roles_sync(apps=kwargs.get("apps") or global_apps)
