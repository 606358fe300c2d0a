from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "crm.api"
    label = "api"
    verbose_name = "开放接口"

    def ready(self) -> None:
        # Webhooks are emitted from the owning apps' hooks, so a change through any channel
        # (admin, member pages, API, nightly jobs, merges, campaigns, erasure) reaches partners,
        # not only the changes made through the API.
        from consent.hooks import on_withdraw
        from members.hooks import on_loyalty_changed, on_member_enrolled

        from .events import consent_withdrawn_webhook, loyalty_changed_webhook, member_enrolled_webhook

        on_withdraw(consent_withdrawn_webhook)
        on_member_enrolled(member_enrolled_webhook)
        on_loyalty_changed(loyalty_changed_webhook)

        # Key and partner changes must reach every process's remembered keys, whichever process
        # makes them (web, worker, shell).
        from . import remembered_keys  # noqa: F401
