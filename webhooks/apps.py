from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    label = "webhooks"
    verbose_name = "Webhook"

    def ready(self) -> None:
        # Webhooks are emitted from the owning apps' hooks, so a change through any channel
        # (admin, member pages, API, nightly jobs, merges, campaigns, erasure) reaches partners,
        # not only the changes made through the API.
        from consent.hooks import on_withdraw
        from coupons.hooks import on_coupon_event
        from members.hooks import on_loyalty_changed, on_member_enrolled

        from .events import (
            consent_withdrawn_webhook,
            coupon_webhook,
            loyalty_changed_webhook,
            loyalty_changed_webhook_writes,
            member_enrolled_webhook,
        )

        on_withdraw(consent_withdrawn_webhook)
        on_member_enrolled(member_enrolled_webhook)
        on_loyalty_changed(loyalty_changed_webhook, needs_transaction=loyalty_changed_webhook_writes)
        on_coupon_event(coupon_webhook)
