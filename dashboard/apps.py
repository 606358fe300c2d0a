from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "dashboard"
    verbose_name = "数据看板"

    def ready(self) -> None:
        # The brand site is defined in crm/admin_sites.py; the dashboard plugs its first screen and
        # its export URLs into that one instance here rather than subclassing it, so the platform
        # site stays untouched and nothing else needs to know about the dashboard. Runs before
        # any URLconf is imported (URLconfs load lazily on the first request).
        from crm.admin_sites import brand_admin

        from .views import dashboard_index

        brand_admin.index_template = "dashboard/index.html"
        brand_admin.index = dashboard_index(brand_admin)
