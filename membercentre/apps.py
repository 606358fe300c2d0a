from django.apps import AppConfig


class MemberCentreConfig(AppConfig):
    name = "membercentre"
    verbose_name = "会员中心"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # 我的优惠券 replaces its placeholder tile (coupons sits below the member centre).
        from .coupons import coupons_section_register

        coupons_section_register()
        # 每日签到 opens the check-in calendar (engagement sits below the member centre).
        from .checkin import checkin_section_register

        checkin_section_register()
        # 邀请有礼 opens engagement's invitations page (the link, the QR, each invitation's status).
        from .invites import invites_section_register

        invites_section_register()
