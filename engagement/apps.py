from django.apps import AppConfig


class EngagementConfig(AppConfig):
    name = "engagement"
    verbose_name = "会员互动（签到、邀请有礼、生日礼、成长值）"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Plugged into members through its hook registries; members never imports engagement.
        from django.core import checks

        from crm.posters import poster_font_check
        from members.hooks import on_order_refunded, on_orders_posted, qualifying_basis_register
        from members.services.points import campaign_multiplier_provider_register

        from .coupon_issuer import engagement_coupon_issue
        from .rewards import coupon_issuer_register
        from .services.birthday import birthday_multipliers_for_orders
        from .services.growth import GROWTH_BASIS, growth_on_order_refunded
        from .services.orders import engagement_on_orders_posted
        from .services.referral import referral_on_order_refunded

        # Spend earns growth value, and an invitee's first order qualifies their referral: one
        # statement per ingest for both. A refund takes both back.
        on_orders_posted(engagement_on_orders_posted)
        on_order_refunded(growth_on_order_refunded)
        on_order_refunded(referral_on_order_refunded)
        qualifying_basis_register(GROWTH_BASIS)
        campaign_multiplier_provider_register(birthday_multipliers_for_orders)
        # Coupon rewards (check-in ladder, birthday) through the coupons app, below engagement.
        coupon_issuer_register(engagement_coupon_issue)
        # Invite posters (and performance's staff posters) need a CJK font on the server.
        checks.register(poster_font_check, checks.Tags.compatibility, deploy=True)
