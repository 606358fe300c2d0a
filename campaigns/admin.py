from typing import TYPE_CHECKING

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin

from crm.admin_sites import brand_admin
from crm.db import connection
from crm.errors import AppError
from crm.spreadsheets.writing import csv_writer
from crm.tenancy.zones import brand_zone

from .forms import CampaignForm
from .models import Campaign, Occurrence, OutboxMessage
from .schedules import next_slots
from .selectors import EXCLUSION_REASONS, campaign_audience, campaign_preview, occurrence_results
from .services import campaign_end, campaign_pause, campaign_publish, campaign_save

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise


def _upcoming(campaign: Campaign, limit: int = 5) -> list:
    return next_slots(campaign, after=timezone.now(), tz=brand_zone(), limit=limit)


@admin.register(Campaign, site=brand_admin)
class CampaignAdmin(ModelAdmin):
    form = CampaignForm
    list_display = ["name", "type", "status", "frequency", "next_run", "message_channel", "bonus_points"]
    list_filter = ["status", "type", "message_channel", "frequency"]
    search_fields = ["name"]
    filter_horizontal = ["tiers", "stores", "tags", "assigned_staff"]
    readonly_fields = ["status", "upcoming", "preview_link"]
    actions = ["publish_selected", "pause_selected", "end_selected"]
    fieldsets = [
        (_("基本信息"), {"fields": ["name", "type", "status", "preview_link"]}),
        (
            _("受众"),
            {
                "fields": [
                    "tiers",
                    "stores",
                    "tags",
                    "assigned_staff",
                    "lifecycle_stages",
                    ("enrolled_after", "enrolled_before"),
                    ("purchased_within_days", "not_purchased_within_days"),
                    ("points_min", "points_max"),
                    "holdout_pct",
                ]
            },
        ),
        (_("权益"), {"fields": ["multiplier_pct", "bonus_points", "bonus_expiry_days", "reward"]}),
        (_("消息"), {"fields": ["message_channel", "message_template"]}),
        (
            _("排期（品牌时区）"),
            {
                "fields": [
                    "frequency",
                    "time_of_day",
                    "day_of_month",
                    "weekdays",
                    "run_at",
                    ("start_date", "end_date"),
                    "upcoming",
                ]
            },
        ),
    ]

    @admin.display(description=_("下次执行"))
    def next_run(self, campaign: Campaign) -> str:
        if campaign.status != Campaign.Status.SCHEDULED:
            return "-"
        upcoming = _upcoming(campaign, limit=1)
        return f"{upcoming[0]:%Y-%m-%d %H:%M}" if upcoming else "-"

    @admin.display(description=_("接下来 5 次执行"))
    def upcoming(self, campaign: Campaign) -> str:
        slots = _upcoming(campaign) if campaign.pk else []
        if not slots:
            return "-"
        return format_html(
            "<ul>{}</ul>", format_html_join("", "<li>{}</li>", ((f"{s:%Y-%m-%d %H:%M %Z}",) for s in slots))
        )

    @admin.display(description=_("发布前预览"))
    def preview_link(self, campaign: Campaign) -> "StrOrPromise":
        if not campaign.pk:
            return _("保存后可预览受众")
        url = reverse("admin:campaigns_campaign_preview", args=[campaign.pk])
        return format_html('<a class="button" href="{}">{}</a>', url, _("预览受众与消息"))

    def save_model(self, request, obj, form, change):
        campaign_save(campaign=obj)

    def get_urls(self):
        return [
            path(
                "<int:campaign_id>/preview/",
                self.admin_site.admin_view(self.preview_view),
                name="campaigns_campaign_preview",
            ),
            *super().get_urls(),
        ]

    def preview_view(self, request: HttpRequest, campaign_id: int) -> HttpResponse:
        from .messaging import message_render_sample

        campaign = get_object_or_404(Campaign, pk=campaign_id)
        if not self.has_view_permission(request, campaign):
            return HttpResponse(status=403)
        preview = campaign_preview(campaign)
        sample_member = campaign_audience(campaign).order_by("pk").first()
        sample = (
            message_render_sample(template=campaign.message_template, member_id=sample_member.pk)
            if sample_member and campaign.message_template
            else ""
        )
        context = {
            **self.admin_site.each_context(request),
            "title": _("活动预览：%(name)s") % {"name": campaign.name},
            "opts": self.model._meta,
            "original": campaign,
            "preview": preview,
            "excluded": [(EXCLUSION_REASONS[key], count) for key, count in preview.excluded.items()],
            "sample_member": sample_member,
            "sample_message": sample,
            "upcoming": _upcoming(campaign),
            "brand_zone": str(brand_zone()),
        }
        return TemplateResponse(request, "admin/campaigns/preview.html", context)

    def _run_action(self, request, queryset, service, done: str) -> None:
        for campaign in queryset:
            try:
                service(campaign_id=campaign.pk)
            except AppError as exc:
                details = "；".join(m for msgs in exc.fields.values() for m in msgs)
                self.message_user(request, f"{campaign.name}：{exc.message} {details}".strip(), messages.ERROR)
            else:
                self.message_user(request, f"{campaign.name}：{done}", messages.SUCCESS)

    @admin.action(description=_("发布（开始排期）"))
    def publish_selected(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        self._run_action(request, queryset, campaign_publish, str(_("已发布，将按排期自动执行。")))

    @admin.action(description=_("暂停"))
    def pause_selected(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        self._run_action(request, queryset, campaign_pause, str(_("已暂停。")))

    @admin.action(description=_("结束"))
    def end_selected(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        self._run_action(request, queryset, campaign_end, str(_("已结束，不会再执行。")))


@admin.register(Occurrence, site=brand_admin)
class OccurrenceAdmin(ModelAdmin):
    list_display = ["campaign", "slot", "status", "recipients", "awarded", "rewards_issued", "queued", "trigger_count"]
    list_filter = ["status", "campaign"]
    list_select_related = ["campaign"]
    search_fields = ["campaign__name"]
    date_hierarchy = "slot"
    readonly_fields = [
        "campaign",
        "slot",
        "window_start",
        "window_end",
        "status",
        "steps_done",
        "started_at",
        "finished_at",
        "trigger_count",
        "error",
        "results",
    ]
    exclude = ["summary"]
    actions = ["export_results_csv"]

    @admin.display(description=_("受众"))
    def recipients(self, occurrence: Occurrence) -> int:
        return occurrence.summary.get("snapshot", {}).get("recipients_added", 0)

    @admin.display(description=_("获赠人数"))
    def awarded(self, occurrence: Occurrence) -> int:
        return occurrence.summary.get("awards", {}).get("awarded_members", 0)

    @admin.display(description=_("获赠礼品"))
    def rewards_issued(self, occurrence: Occurrence) -> int:
        return occurrence.summary.get("rewards", {}).get("issued", 0)

    @admin.display(description=_("排队消息"))
    def queued(self, occurrence: Occurrence) -> int:
        return occurrence.summary.get("messages", {}).get("queued", 0)

    @admin.display(description=_("活动效果"))
    def results(self, occurrence: Occurrence) -> str:
        if not occurrence.pk:
            return "-"
        from django.template.loader import render_to_string

        return render_to_string("admin/campaigns/results.html", {"r": occurrence_results(occurrence)})

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Occurrence | None = None) -> bool:
        return False

    @admin.action(description=_("导出活动效果（CSV）"))
    def export_results_csv(self, request: HttpRequest, queryset: QuerySet[Occurrence]) -> HttpResponse:
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="occurrences-{connection.schema_name}.csv"'
        # Campaign names are typed by people: no cell of theirs may become a formula.
        writer = csv_writer(response)
        writer.writerow(
            [
                "活动",
                "计划时间",
                "受众",
                "对照组",
                "受众订单",
                "受众GMV(元)",
                "对照组订单",
                "对照组GMV(元)",
                "提升(%)",
                "赠送积分",
                "赠送礼品",
                "礼品发放人数",
                "礼品未发人数",
                "消息",
            ]
        )
        for occurrence in queryset.select_related("campaign"):
            r = occurrence_results(occurrence)
            writer.writerow(
                [
                    occurrence.campaign.name,
                    f"{occurrence.slot:%Y-%m-%d %H:%M}",
                    r.audience.members,
                    r.holdout.members,
                    r.audience.orders,
                    f"{r.audience.gmv_fen / 100:.2f}",
                    r.holdout.orders,
                    f"{r.holdout.gmv_fen / 100:.2f}",
                    "" if r.lift_pct is None else f"{r.lift_pct:.1f}",
                    r.points_awarded,
                    r.reward_name,
                    r.rewards_issued,
                    r.rewards_not_issued,
                    " ".join(f"{k}:{v}" for k, v in sorted(r.messages.items())),
                ]
            )
        return response


@admin.register(OutboxMessage, site=brand_admin)
class OutboxMessageAdmin(ModelAdmin):
    list_display = ["occurrence", "member", "channel", "staff", "status", "sent_at"]
    list_filter = ["status", "channel"]
    list_select_related = ["occurrence__campaign", "member", "staff"]
    search_fields = ["member__member_no", "occurrence__campaign__name"]
    raw_id_fields = ["occurrence", "member", "staff"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: OutboxMessage | None = None) -> bool:
        return False
