"""Brand admin: the official account for WeChat sign-in on the member centre, and the audit of
member-code resolutions (read-only)."""

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin

from crm.admin_readonly import ReadOnlyAdminMixin
from crm.admin_sites import brand_admin
from members.scoping import StoreScopedAdminMixin

from .models import MemberCodeResolution, WechatOAuthConfig
from .services.signin import miniprogram_config_save, wechat_config_save


class WechatOAuthConfigForm(forms.ModelForm):
    # Write-only, as the WeCom secret: never rendered back; empty on edit keeps the stored one.
    secret = forms.CharField(
        label=_("AppSecret"),
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_("保存后不再显示；留空表示不修改。"),
    )

    miniprogram_secret = forms.CharField(
        label=_("小程序 AppSecret"),
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_("用于小程序获取手机号（getPhoneNumber）。保存后不再显示；留空表示不修改。"),
    )
    authorize_url = forms.URLField(
        label=_("授权页地址"), assume_scheme="https", help_text=_("测试和演示时指向模拟服务器")
    )
    api_base_url = forms.URLField(label=_("接口地址"), assume_scheme="https", help_text=_("测试和演示时指向模拟服务器"))

    class Meta:
        model = WechatOAuthConfig
        fields = [
            "enabled",
            "app_id",
            "secret",
            "scope",
            "authorize_url",
            "api_base_url",
            "miniprogram_app_id",
            "miniprogram_secret",
        ]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if not cleaned.get("secret") and not (self.instance and self.instance.secret_encrypted):
            self.add_error("secret", _("请填写公众号 AppSecret。"))
        return cleaned


@admin.register(WechatOAuthConfig, site=brand_admin)
class WechatOAuthConfigAdmin(ModelAdmin):
    form = WechatOAuthConfigForm
    list_display = ["app_id", "scope", "enabled", "updated_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return super().has_add_permission(request) and not WechatOAuthConfig.objects.exists()

    def save_model(self, request: HttpRequest, obj: WechatOAuthConfig, form: forms.ModelForm, change: bool) -> None:
        data = form.cleaned_data
        saved = wechat_config_save(
            app_id=data["app_id"],
            secret=data.get("secret") or None,
            scope=data["scope"],
            authorize_url=data["authorize_url"],
            api_base_url=data["api_base_url"],
            enabled=data["enabled"],
        )
        if data.get("miniprogram_app_id") or data.get("miniprogram_secret"):
            miniprogram_config_save(
                app_id=data.get("miniprogram_app_id", ""), secret=data.get("miniprogram_secret") or None
            )
        obj.pk = saved.pk


@admin.register(MemberCodeResolution, site=brand_admin)
class MemberCodeResolutionAdmin(StoreScopedAdminMixin, ReadOnlyAdminMixin, ModelAdmin):
    scope_member_path = "member"
    list_display = ["resolved_at", "member", "actor", "via", "purpose", "reference"]
    list_filter = ["via", "purpose"]
    search_fields = ["member__member_no", "actor", "reference"]
    list_select_related = ["member"]
    date_hierarchy = "resolved_at"
