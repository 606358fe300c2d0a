from django.contrib import admin
from unfold.admin import ModelAdmin

from crm.admin_sites import brand_admin

from .models import JobRun


@admin.register(JobRun, site=brand_admin)
class JobRunAdmin(ModelAdmin):
    list_display = ["name", "status", "created_at", "finished_at"]
    list_filter = ["status", "name"]
    search_fields = ["name"]
    readonly_fields = ["name", "status", "created_at", "finished_at", "summary"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
