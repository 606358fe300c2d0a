from django.apps import AppConfig


class CouponsConfig(AppConfig):
    name = "coupons"
    verbose_name = "优惠券"

    def ready(self) -> None:
        # A refunded order returns its coupon (full refund) or pro-rates its discount (partial),
        # whichever channel the refund came through: members announces refunds through its hooks.
        from members.hooks import member_page_tools, on_order_refunded

        from .manual_issue import coupon_member_page_tool
        from .services import coupon_order_refunded

        on_order_refunded(coupon_order_refunded)
        # 发券 on the admin member page, for those who may issue by hand.
        member_page_tools.connect(coupon_member_page_tool)
