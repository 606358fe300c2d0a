from django.apps import AppConfig


class WorkbenchConfig(AppConfig):
    name = "workbench"
    verbose_name = "门店工作台"

    def ready(self) -> None:
        # Store roles land on the workbench, not on the dashboard: the brand site's index (already
        # wrapped by the dashboard app, which comes earlier in INSTALLED_APPS) sends them here.
        from crm.admin_sites import brand_admin

        from .views import workbench_index

        brand_admin.index = workbench_index(brand_admin.index)
