from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "crm.api"
    label = "api"
    verbose_name = "开放接口"

    def ready(self) -> None:
        # Key and partner changes must reach every process's remembered keys, whichever process
        # makes them (web, worker, shell).
        from . import remembered_keys  # noqa: F401
