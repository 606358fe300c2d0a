"""Brand admin: webhook subscriptions and the webhook delivery log (read-only)."""

from typing import Any

from django.contrib import admin
from django.db import models
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin

from crm.admin_readonly import ReadOnlyAdminMixin
from crm.admin_sites import brand_admin

from .models import WebhookDelivery, WebhookSubscription


@admin.register(WebhookSubscription, site=brand_admin)
class WebhookSubscriptionAdmin(ReadOnlyAdminMixin, ModelAdmin):
    list_display = ["public_id", "partner", "url", "event_list", "deleted_at", "created_at"]
    list_filter = ["partner", ("deleted_at", admin.EmptyFieldListFilter)]
    list_select_related = ["partner"]
    search_fields = ["url", "partner__name", "public_id"]
    # The signing secret is the partner's; it is not shown here.
    exclude = ["secret"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    @admin.display(description=_("事件"))
    def event_list(self, obj: WebhookSubscription) -> str:
        return ", ".join(obj.events)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_view_permission(request, obj) or request.user.is_superuser


@admin.register(WebhookDelivery, site=brand_admin)
class WebhookDeliveryAdmin(ReadOnlyAdminMixin, ModelAdmin):
    list_display = [
        "event",
        "subscription",
        "status",
        "attempts",
        "last_status_code",
        "next_retry_at",
        "delivered_at",
        "created_at",
    ]
    list_filter = ["status", "event", "subscription__partner"]
    list_select_related = ["subscription__partner"]
    search_fields = ["event_id", "subscription__url", "subscription__partner__name"]
    date_hierarchy = "created_at"
