"""Brand admin: partners and API keys (created and revoked through the services; the key is shown
once). Webhook subscriptions and deliveries: webhooks/admin.py."""

from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin

from crm.admin_sites import brand_admin
from crm.errors import AppError

from .models import ApiKey, Partner, Scope
from .services import api_key_create, api_key_revoke


@admin.register(Partner, site=brand_admin)
class PartnerAdmin(ModelAdmin):
    list_display = ["name", "created_at"]
    search_fields = ["name"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # keys, subscriptions and idempotency records hang on the partner


class ApiKeyCreateForm(forms.ModelForm):
    partner_name = forms.CharField(label=_("合作方名称"), max_length=100, help_text=_("新名称会自动创建合作方。"))
    scopes = forms.MultipleChoiceField(label=_("权限范围"), choices=Scope.choices, widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = ApiKey
        fields = ["expires_at"]

    def clean(self) -> dict[str, Any]:
        data = cast(dict[str, Any], super().clean())  # a ModelForm's clean returns cleaned_data
        expires_at = data.get("expires_at")
        if expires_at is not None and expires_at <= timezone.now():
            self.add_error("expires_at", _("过期时间必须晚于现在。"))
        return data


class KeyStateFilter(admin.SimpleListFilter):
    title = _("状态")
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("active", _("有效")), ("revoked", _("已吊销")), ("expired", _("已过期"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> QuerySet[ApiKey]:
        now = timezone.now()
        if self.value() == "active":
            return queryset.filter(revoked_at__isnull=True).exclude(expires_at__lte=now)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        if self.value() == "expired":
            return queryset.filter(revoked_at__isnull=True, expires_at__lte=now)
        return queryset


@admin.register(ApiKey, site=brand_admin)
class ApiKeyAdmin(ModelAdmin):
    list_display = ["prefix", "partner", "scope_list", "expires_at", "revoked_at", "last_used_at", "created_at"]
    list_filter = [KeyStateFilter, "partner"]
    list_select_related = ["partner"]
    search_fields = ["prefix", "partner__name"]
    readonly_fields = ["prefix", "partner", "scopes", "expires_at", "revoked_at", "last_used_at", "created_at"]
    actions = ["revoke_keys"]

    @admin.display(description=_("权限范围"))
    def scope_list(self, obj: ApiKey) -> str:
        return ", ".join(obj.scopes)

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = ApiKeyCreateForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None:
            return ["partner_name", "scopes", "expires_at"]
        return self.readonly_fields

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [] if obj is None else self.readonly_fields

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Keys are immutable once issued (only revoked); the change page is a read-only view.
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # revoke instead: the row documents who had access until when

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        try:
            created = api_key_create(
                partner_name=form.cleaned_data["partner_name"],
                scopes=form.cleaned_data["scopes"],
                expires_at=form.cleaned_data.get("expires_at"),
            )
        except AppError as exc:
            # Validated by the form already; a service refusal still must not be a 500.
            messages.error(request, exc.message)
            raise
        # The admin logs and redirects to `obj`; make it the row the service created.
        for field in ApiKey._meta.concrete_fields:
            setattr(obj, field.attname, getattr(created.api_key, field.attname))
        obj._state.adding = False
        messages.warning(
            request,
            _("API 密钥（只显示这一次，请立即复制并交给合作方）：%(key)s") % {"key": created.plaintext},
        )

    @admin.action(description=_("吊销所选 API 密钥"))
    def revoke_keys(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        count = 0
        for api_key_id in queryset.filter(revoked_at__isnull=True).values_list("pk", flat=True):
            api_key_revoke(api_key_id=api_key_id)
            count += 1
        self.message_user(request, _("已吊销 %(count)d 个 API 密钥。") % {"count": count}, messages.SUCCESS)
