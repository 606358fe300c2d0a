from django.apps import AppConfig


class TenancyConfig(AppConfig):
    name = "crm.tenancy"
    label = "tenancy"
    verbose_name = "品牌"

    def ready(self) -> None:
        # Database plumbing every process needs before its first connection (web, worker, beat, shell).
        from django.db.backends.signals import connection_created

        from crm.db_adapters import timestamptz_loader_use_c

        connection_created.connect(timestamptz_loader_use_c, dispatch_uid="timestamptz_loader_use_c")
