from django.apps import AppConfig


class MemberCentreConfig(AppConfig):
    name = "membercentre"
    verbose_name = "会员中心"
    default_auto_field = "django.db.models.BigAutoField"
