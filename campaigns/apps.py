from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = "会员日活动"

    def ready(self) -> None:
        # Plug into the other apps through their published hooks, so they never import campaigns:
        # the earning rules ask for campaign multipliers, consent withdrawals cancel queued messages.
        from coupons.hooks import coupon_campaign_namer_register, coupon_reminder_sender_register
        from engagement.services.reminders import checkin_reminder_sender_register
        from members.services.points import campaign_multiplier_provider_register

        from . import messaging  # (also registers the consent withdrawal handler)
        from .multiplier import campaign_multipliers_for_orders
        from .selectors import campaign_names
        from .sms import checkin_reminders_by_sms

        campaign_multiplier_provider_register(campaign_multipliers_for_orders)
        # engagement's check-in reminders go out through this app's SMS provider.
        checkin_reminder_sender_register(checkin_reminders_by_sms)
        # Coupons' expiry reminders by SMS (coupons sits below campaigns and imports no channel).
        coupon_reminder_sender_register(messaging.coupon_reminders_sms)
        # Coupons' report by campaign shows the campaigns' names.
        coupon_campaign_namer_register(campaign_names)
