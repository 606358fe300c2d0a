from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "crm.api"
    label = "api"
    verbose_name = "开放接口"

    def ready(self) -> None:
        # consent.withdrawn is emitted from the consent app's own hook, so a withdrawal through
        # any channel (admin, member pages, API, erasure) reaches partners, not only API ones.
        from consent.hooks import on_withdraw

        from .events import consent_withdrawn_webhook

        on_withdraw(consent_withdrawn_webhook)
