from django.apps import AppConfig


class ScancodesConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "scancodes"
    verbose_name = "一物一码"

    def ready(self) -> None:
        from . import rewards  # noqa: F401  (registers the reward kinds: points, growth value, coupon)
        from .member import scan_section_register

        scan_section_register()  # the scan-to-earn tile on the member centre's card page
