from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.utils.translation import gettext_lazy as _
from django_celery_beat.admin import PeriodicTaskAdmin
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask
from django_tenants.utils import get_public_schema_name
from unfold.admin import ModelAdmin, TabularInline

from crm.admin_sites import platform_admin
from crm.errors import AppError

from .forms import BrandDetailsForm, BrandProvisionForm
from .models import Brand, Domain
from .services import brand_cell_rows_refresh, brand_details_update, brand_provision


class DomainForm(forms.ModelForm):
    class Meta:
        model = Domain
        fields = ["domain", "is_primary"]
        # django-tenants' DomainMixin names its fields in English.
        labels = {"domain": _("域名"), "is_primary": _("主域名")}


class DomainInline(TabularInline):
    model = Domain
    form = DomainForm
    extra = 0


@admin.register(Brand, site=platform_admin)
class BrandAdmin(ModelAdmin):
    list_display = [
        "name",
        "schema_name",
        "primary_domain",
        "time_zone",
        "pi_contact",
        "cell_shown",
        "ready",
        "created_at",
    ]
    list_filter = ["ready", "cell", "time_zone"]
    search_fields = ["name", "schema_name", "domains__domain"]
    # The cell changes only through move_brand (docs/cells.md). The schema and the cell are shown
    # through display methods: django-tenants names schema_name in English, and the cell's
    # "default" wants words.
    readonly_fields = ["schema_shown", "cell_shown", "read_only", "ready", "created_at", "updated_at"]
    inlines = [DomainInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Brand]:
        return super().get_queryset(request).exclude(schema_name=get_public_schema_name()).prefetch_related("domains")

    @admin.display(description=_("品牌标识（数据库 schema）"))
    def schema_shown(self, brand: Brand) -> str:
        return brand.schema_name

    @admin.display(description=_("单元"), ordering="cell")
    def cell_shown(self, brand: Brand) -> str:
        # "default" is the control database's own cluster (crm/settings/database.py): say so.
        return str(_("默认（控制库）")) if brand.cell == "default" else brand.cell

    @admin.display(description=_("主域名"))
    def primary_domain(self, brand: Brand) -> str:
        return next((d.domain for d in brand.domains.all() if d.is_primary), "-")

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = BrandProvisionForm if obj is None else BrandDetailsForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return [
                "name",
                "slug",
                "domain",
                "time_zone",
                "contact_address",
                "pi_contact",
                "admin_email",
                "admin_password",
            ]
        return [
            "name",
            "schema_shown",
            "time_zone",
            "contact_address",
            "pi_contact",
            "admin_session_hours",
            "export_keep_days",
            "cell_shown",
            "read_only",
            "ready",
            "created_at",
            "updated_at",
        ]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.readonly_fields

    def get_inlines(self, request, obj):
        return [] if obj is None else self.inlines

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        if change:  # the domains just saved, also in the brand's cell (docs/cells.md)
            brand_cell_rows_refresh(brand_id=form.instance.pk)

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            # Through the service: new contacts also finish the brand's membership agreement if
            # the brand has not published a complete one (see brand_details_update).
            brand_details_update(
                brand_id=obj.pk,
                name=data["name"],
                time_zone=data["time_zone"],
                contact_address=data.get("contact_address", ""),
                pi_contact=data.get("pi_contact", ""),
                admin_session_hours=data.get("admin_session_hours"),
                export_keep_days=data.get("export_keep_days"),
                actor=f"platform:{request.user.get_username()}",
            )
            return
        result = brand_provision(
            slug=data["slug"],
            name=data["name"],
            domain=data["domain"],
            admin_email=data["admin_email"],
            admin_password=data["admin_password"] or None,
            time_zone=data["time_zone"],
            contact_address=data.get("contact_address", ""),
            pi_contact=data.get("pi_contact", ""),
        )
        # The admin's redirect and "added" message need the saved instance.
        obj.pk = result.brand.pk
        obj.schema_name = result.brand.schema_name
        if result.generated_password:
            messages.warning(
                request,
                _("品牌管理员 %(email)s 的初始密码：%(password)s（仅显示这一次，请立即转交并提醒修改）")
                % {"email": data["admin_email"], "password": result.generated_password},
            )

    def add_view(self, request, form_url="", extra_context=None):
        try:
            return super().add_view(request, form_url, extra_context)
        except AppError as exc:
            # The form already validated the input, so this is a lost race (same slug or domain
            # provisioned concurrently). Nothing was created: say why and offer the form again.
            self.message_user(request, exc.message, level=messages.ERROR)
            return HttpResponseRedirect(request.path)

    def has_delete_permission(self, request, obj=None):
        # Deleting a brand drops its members' data; that is a deliberate, scripted operation.
        return False


platform_admin.register(PeriodicTask, PeriodicTaskAdmin)
platform_admin.register(CrontabSchedule)
platform_admin.register(IntervalSchedule)
