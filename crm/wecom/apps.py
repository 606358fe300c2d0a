from django.apps import AppConfig


class WecomConfig(AppConfig):
    name = "crm.wecom"
    label = "wecom"
    verbose_name = "企业微信"
