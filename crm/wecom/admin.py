from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from crm.admin_sites import brand_admin

from . import services
from .models import CallbackEvent, FollowRelation, WecomConfig


class WecomConfigForm(forms.ModelForm):
    # Write-only: the stored secret is never rendered back, not even masked, so a screenshot or a
    # shared screen cannot leak it. Empty on edit means "keep the current secret".
    secret = forms.CharField(
        label=_("应用 Secret"),
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_("保存后不再显示；留空表示不修改。"),
    )

    api_base_url = forms.URLField(label=_("API 地址"), assume_scheme="https", help_text=_("测试和演示时指向模拟服务器"))

    class Meta:
        model = WecomConfig
        fields = ["corp_id", "secret", "token", "encoding_aes_key", "api_base_url", "welcome_text"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if not cleaned.get("secret") and not (self.instance and self.instance.has_secret):
            self.add_error("secret", _("请填写应用 Secret。"))
        token = cleaned.get("token") or ""
        if token and not (token.isascii() and token.isalnum() and len(token) <= 32):
            self.add_error("token", _("Token 须为 1–32 位英文字母或数字。"))
        return cleaned


@admin.register(WecomConfig, site=brand_admin)
class WecomConfigAdmin(admin.ModelAdmin):
    form = WecomConfigForm
    list_display = ["corp_id", "api_base_url", "secret_status", "callback_path", "updated_at"]
    readonly_fields = ["secret_status", "callback_path", "updated_at"]

    @admin.display(description=_("应用 Secret"))
    def secret_status(self, obj: WecomConfig) -> str:
        return str(_("已设置")) if obj.has_secret else str(_("未设置"))

    @admin.display(description=_("回调地址（路径）"))
    def callback_path(self, obj: WecomConfig) -> str:
        return "/wecom/callback/"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return super().has_add_permission(request) and not WecomConfig.objects.exists()

    def save_model(self, request: HttpRequest, obj: WecomConfig, form: forms.ModelForm, change: bool) -> None:
        # The form validated what the service checks, so the service refusing here is a race
        # (another admin saved first); the service's own validation is the last word.
        data = form.cleaned_data
        saved = services.wecom_config_save(
            corp_id=data["corp_id"],
            token=data["token"],
            encoding_aes_key=data["encoding_aes_key"],
            secret=data.get("secret") or None,
            api_base_url=data["api_base_url"],
            welcome_text=data.get("welcome_text") or "",
        )
        obj.pk = saved.pk


@admin.register(CallbackEvent, site=brand_admin)
class CallbackEventAdmin(admin.ModelAdmin):
    list_display = ["event_time", "change_type", "user_id", "external_user_id", "state", "status", "attempts"]
    list_filter = ["change_type", "status"]
    search_fields = ["external_user_id", "user_id"]
    date_hierarchy = "event_time"
    readonly_fields = [f.name for f in CallbackEvent._meta.fields]
    actions = ["retry_failed"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: CallbackEvent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: CallbackEvent | None = None) -> bool:
        return False

    @admin.action(description=_("重新处理失败的事件"), permissions=["view"])
    def retry_failed(self, request: HttpRequest, queryset: QuerySet[CallbackEvent]) -> None:
        retried = sum(services.callback_event_retry(event_id=pk) for pk in queryset.values_list("pk", flat=True))
        messages.info(request, _("已重新排队 %(count)d 个事件。") % {"count": retried})


class ActiveFilter(admin.SimpleListFilter):
    title = _("关系状态")
    parameter_name = "active"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, Any]]:
        return [("yes", _("有效")), ("no", _("已删除"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[FollowRelation]) -> QuerySet[FollowRelation]:
        if self.value() == "yes":
            return queryset.filter(deleted_at__isnull=True)
        if self.value() == "no":
            return queryset.filter(deleted_at__isnull=False)
        return queryset


@admin.register(FollowRelation, site=brand_admin)
class FollowRelationAdmin(admin.ModelAdmin):
    list_display = ["external_userid", "name", "staff_userid", "state", "added_at", "deleted_at", "deleted_by"]
    list_filter = [ActiveFilter, "deleted_by", "add_way"]
    search_fields = ["external_userid", "staff_userid", "unionid", "state", "name"]
    readonly_fields = [f.name for f in FollowRelation._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: FollowRelation | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: FollowRelation | None = None) -> bool:
        return False
