from typing import TYPE_CHECKING

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin

from crm.admin_sites import brand_admin
from crm.db import connection
from crm.errors import AppError
from crm.money import yuan
from crm.spreadsheets.writing import csv_writer
from crm.tenancy.zones import brand_time_shown, brand_zone, brand_zone_shown
from members.masking import can_view_full_pi, name_shown

from .forms import CampaignForm, PublishForm
from .models import Campaign, Occurrence, OutboxMessage
from .schedules import next_slots
from .selectors import (
    HOLDOUT_LABEL,
    CampaignPreview,
    OccurrenceResults,
    campaign_audience,
    campaign_preview,
    campaign_status_label,
    occurrence_results,
)
from .services import campaign_end, campaign_pause, campaign_publish, campaign_save

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise


def _upcoming(campaign: Campaign, limit: int = 5) -> list:
    return next_slots(campaign, after=timezone.now(), tz=brand_zone(), limit=limit)


def _benefit_words(campaign: Campaign) -> list[str]:
    words = []
    if campaign.bonus_points:
        expiry = f"（{campaign.bonus_expiry_days} 天有效）" if campaign.bonus_expiry_days else ""
        words.append(f"赠送 {campaign.bonus_points:,} 积分{expiry}")
    if campaign.multiplier_pct > 100:
        words.append(f"当日消费积分 {campaign.multiplier_pct / 100:g} 倍")
    if campaign.reward_id is not None and campaign.reward is not None:
        words.append(f"赠送礼品“{campaign.reward.name}”")
    if campaign.coupon_template_id is not None and campaign.coupon_template is not None:
        words.append(f"赠送优惠券“{campaign.coupon_template.name}”")
    return words or ["无权益（仅发消息）"]


RESULT_HEADERS = ["", "人数", "购买人数", "订单", "GMV", "人均 GMV", "人均订单"]


def results_context(r: "OccurrenceResults") -> dict:
    groups = []
    for label, g in (("受众", r.audience), ("对照组", r.holdout)):
        cells = [
            g.members,
            g.buyers,
            g.orders,
            yuan(g.gmv_fen),
            yuan(round(g.gmv_per_member_fen)),
            f"{g.orders / g.members:.2f}" if g.members else "—",
        ]
        groups.append({"label": label, "cells": cells})
    top = max(r.audience.gmv_per_member_fen, r.holdout.gmv_per_member_fen) or 1
    return {
        "r": r,
        "groups": groups,
        "result_headers": RESULT_HEADERS,
        "bar_audience": round(240 * r.audience.gmv_per_member_fen / top),
        "bar_holdout": round(240 * r.holdout.gmv_per_member_fen / top),
    }


def _preview_context(request: HttpRequest, campaign: Campaign, preview: CampaignPreview) -> dict:
    """What the preview and the publish confirmation both show, from one CampaignPreview."""
    from .messaging import message_render_sample

    sample_member = campaign_audience(campaign, at=preview.slot).order_by("pk").first()
    sample = ""
    if sample_member and campaign.message_template:
        # The sample shows the member's name as this viewer may see it.
        shown = name_shown(sample_member.name, full=can_view_full_pi(request.user)) or "会员"
        sample = message_render_sample(
            template=campaign.message_template.replace("{name}", shown), member_id=sample_member.pk
        )
    return {
        "preview": preview,
        "channels": [
            {
                "row": row,
                "chosen": index == 0,
                "liability": yuan(row.liability_fen),
                "excluded": row.excluded_rows,
                "excluded_total": sum(row.excluded.values()),
            }
            for index, row in enumerate(preview.channels)
        ],
        "holdout_label": HOLDOUT_LABEL,
        "preview_headers": ["渠道", "触达（发放权益）", HOLDOUT_LABEL, "未触达及原因", "预计积分成本"],
        "message_title": f"消息（{campaign.get_message_channel_display()}）",
        "upcoming_title": f"接下来 5 次执行（{brand_zone_shown()}）",
        "go_publish_attrs": {"id": "go-publish"},
        "confirm_attrs": {"id": "confirm-publish"},
        "liability": yuan(preview.liability_fen),
        "benefits": _benefit_words(campaign),
        "channel_label": campaign.get_message_channel_display(),
        "next_run": brand_time_shown(preview.slot) if preview.slot else "",
        "sample_member_no": sample_member.member_no if sample_member else "",
        "sample_message": sample,
        "upcoming": [brand_time_shown(slot) for slot in _upcoming(campaign)],
        "brand_zone": brand_zone_shown(),
    }


@admin.register(Campaign, site=brand_admin)
class CampaignAdmin(ModelAdmin):
    form = CampaignForm
    list_display = ["name", "type", "status_words", "frequency", "next_run", "message_channel", "runs_link"]
    list_filter = ["status", "type", "message_channel", "frequency"]
    search_fields = ["name"]
    readonly_fields = ["status_words", "upcoming", "preview_link", "runs"]
    # Publishing is not a bulk action: it happens on the campaign's own page, after a confirmation
    # that restates audience, benefit, channel and next run.
    actions = ["pause_selected", "end_selected"]
    fieldsets = [
        (_("基本信息"), {"fields": ["name", "type", "status_words", "preview_link", "runs"]}),
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
        (
            _("权益"),
            {"fields": ["multiplier_pct", ("bonus_points", "bonus_expiry_days"), "reward", "coupon_template"]},
        ),
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

    def get_queryset(self, request: HttpRequest) -> QuerySet[Campaign]:
        from django.db.models import Exists, OuterRef

        running = Occurrence.objects.filter(campaign=OuterRef("pk"), status=Occurrence.Status.RUNNING)
        return super().get_queryset(request).annotate(is_running=Exists(running))

    def has_delete_permission(self, request: HttpRequest, obj: Campaign | None = None) -> bool:
        # A campaign that ever ran is history (its runs point at it): end it instead.
        if obj is not None and obj.status != Campaign.Status.DRAFT:
            return False
        return super().has_delete_permission(request, obj)

    @admin.display(description=_("状态"), ordering="status")
    def status_words(self, campaign: Campaign) -> str:
        return campaign_status_label(campaign, running=getattr(campaign, "is_running", None))

    @admin.display(description=_("下次执行"))
    def next_run(self, campaign: Campaign) -> str:
        if campaign.status != Campaign.Status.SCHEDULED:
            return "-"
        upcoming = _upcoming(campaign, limit=1)
        return brand_time_shown(upcoming[0]) if upcoming else "-"

    @admin.display(description=_("执行记录"))
    def runs_link(self, campaign: Campaign) -> str:
        url = reverse("admin:campaigns_occurrence_changelist") + f"?campaign__id__exact={campaign.pk}"
        return format_html('<a href="{}">{}</a>', url, _("执行记录与效果"))

    @admin.display(description=_("接下来 5 次执行（品牌时区）"))
    def upcoming(self, campaign: Campaign) -> str:
        slots = _upcoming(campaign) if campaign.pk else []
        if not slots:
            return "-"
        return format_html("<ul>{}</ul>", format_html_join("", "<li>{}</li>", ((brand_time_shown(s),) for s in slots)))

    @admin.display(description=_("操作"))
    def preview_link(self, campaign: Campaign) -> "StrOrPromise":
        if not campaign.pk:
            return _("保存后可预览受众并发布")
        buttons = [(reverse("admin:campaigns_campaign_preview", args=[campaign.pk]), "预览受众与消息", "preview")]
        if campaign.status in (Campaign.Status.DRAFT, Campaign.Status.PAUSED):
            buttons.append((reverse("admin:campaigns_campaign_publish", args=[campaign.pk]), "发布…", "publish"))
        # unfold's button look (classes of unfold/components/button.html: primary, then default).
        looks = {
            "publish": "bg-primary-600 border border-transparent text-white hover:bg-primary-600/80",
            "preview": "bg-white border border-base-200 shadow-xs text-important hover:bg-base-100/80",
        }
        return format_html(
            '<div class="flex flex-wrap gap-2">{}</div>',
            format_html_join(
                "",
                '<a class="font-medium inline-flex items-center px-3 py-2 rounded-default whitespace-nowrap {}"'
                ' id="campaign-{}" href="{}">{}</a>',
                ((looks[key], key, url, label) for url, label, key in buttons),
            ),
        )

    @admin.display(description=_("执行记录与效果"))
    def runs(self, campaign: Campaign) -> str:
        if not campaign.pk:
            return "-"
        rows = list(campaign.occurrences.order_by("-slot")[:10])
        if not rows:
            return "尚未执行"
        return format_html(
            '<ul id="campaign-runs">{}</ul>',
            format_html_join(
                "",
                '<li><a href="{}">{} · {} · 查看效果</a></li>',
                (
                    (
                        reverse("admin:campaigns_occurrence_change", args=[o.pk]),
                        brand_time_shown(o.slot),
                        o.get_status_display(),
                    )
                    for o in rows
                ),
            ),
        )

    def save_model(self, request, obj, form, change):
        campaign_save(campaign=obj)

    def get_urls(self):
        return [
            path(
                "<int:campaign_id>/preview/",
                self.admin_site.admin_view(self.preview_view),
                name="campaigns_campaign_preview",
            ),
            path(
                "<int:campaign_id>/publish/",
                self.admin_site.admin_view(self.publish_view),
                name="campaigns_campaign_publish",
            ),
            *super().get_urls(),
        ]

    def preview_view(self, request: HttpRequest, campaign_id: int) -> HttpResponse:
        campaign = get_object_or_404(Campaign.objects.select_related("reward", "coupon_template"), pk=campaign_id)
        if not self.has_view_permission(request, campaign):
            return HttpResponse(status=403)
        context = {
            **self.admin_site.each_context(request),
            "title": _("活动预览：%(name)s") % {"name": campaign.name},
            "opts": self.model._meta,
            "original": campaign,
            **_preview_context(request, campaign, campaign_preview(campaign)),
        }
        return TemplateResponse(request, "admin/campaigns/preview.html", context)

    def publish_view(self, request: HttpRequest, campaign_id: int) -> HttpResponse:
        """The confirmation step: what will happen at the next run, then one button."""
        campaign = get_object_or_404(Campaign.objects.select_related("reward", "coupon_template"), pk=campaign_id)
        if not self.has_change_permission(request, campaign):
            return HttpResponse(status=403)
        form = PublishForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            try:
                campaign_publish(
                    campaign_id=campaign.pk, confirm_empty_audience=form.cleaned_data["confirm_empty_audience"]
                )
            except AppError as exc:
                details = "；".join(m for msgs in exc.fields.values() for m in msgs)
                self.message_user(request, f"{exc.message} {details}".strip(), messages.ERROR)
                return redirect("admin:campaigns_campaign_publish", campaign.pk)
            else:
                self.message_user(request, f"{campaign.name}：已发布，将按排期自动执行。", messages.SUCCESS)
                return redirect("admin:campaigns_campaign_change", campaign.pk)
        context = {
            **self.admin_site.each_context(request),
            "title": _("确认发布：%(name)s") % {"name": campaign.name},
            "opts": self.model._meta,
            "original": campaign,
            "form": form,
            **_preview_context(request, campaign, campaign_preview(campaign)),
        }
        return TemplateResponse(request, "admin/campaigns/publish.html", context)

    def _run_action(self, request, queryset, service, done: str) -> None:
        for campaign in queryset:
            try:
                service(campaign_id=campaign.pk)
            except AppError as exc:
                details = "；".join(m for msgs in exc.fields.values() for m in msgs)
                self.message_user(request, f"{campaign.name}：{exc.message} {details}".strip(), messages.ERROR)
            else:
                self.message_user(request, f"{campaign.name}：{done}", messages.SUCCESS)

    @admin.action(description=_("暂停"))
    def pause_selected(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        self._run_action(request, queryset, campaign_pause, str(_("已暂停。")))

    @admin.action(description=_("结束"))
    def end_selected(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        self._run_action(request, queryset, campaign_end, str(_("已结束，不会再执行。")))


@admin.register(Occurrence, site=brand_admin)
class OccurrenceAdmin(ModelAdmin):
    list_display = [
        "__str__",
        "slot_shown",
        "status",
        "recipients",
        "awarded",
        "rewards_issued",
        "queued",
        "results_link",
    ]
    list_filter = ["status", "campaign"]
    list_select_related = ["campaign"]
    search_fields = ["campaign__name"]
    date_hierarchy = "slot"
    # Every time in the brand's zone (the admin's own datetime display uses the server's).
    fields = [
        "campaign",
        "slot_shown",
        "window_shown",
        "status",
        "started_shown",
        "finished_shown",
        "error",
        "results",
    ]
    readonly_fields = ["campaign", "slot_shown", "window_shown", "status", "started_shown", "finished_shown", "error"]
    readonly_fields += ["results"]
    actions = ["export_results_csv"]

    @admin.display(description=_("计划时间"), ordering="slot")
    def slot_shown(self, occurrence: Occurrence) -> str:
        return brand_time_shown(occurrence.slot)

    @admin.display(description=_("活动窗口（当天订单享受倍率）"))
    def window_shown(self, occurrence: Occurrence) -> str:
        return f"{brand_time_shown(occurrence.window_start)} — {brand_time_shown(occurrence.window_end)}"

    @admin.display(description=_("开始时间"))
    def started_shown(self, occurrence: Occurrence) -> str:
        return brand_time_shown(occurrence.started_at)

    @admin.display(description=_("完成时间"))
    def finished_shown(self, occurrence: Occurrence) -> str:
        return brand_time_shown(occurrence.finished_at)

    @admin.display(description=_("效果"))
    def results_link(self, occurrence: Occurrence) -> str:
        url = reverse("admin:campaigns_occurrence_change", args=[occurrence.pk])
        return format_html('<a href="{}">{}</a>', url, _("查看效果"))

    def has_delete_permission(self, request: HttpRequest, obj: Occurrence | None = None) -> bool:
        return False  # runs are history

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

        return render_to_string("admin/campaigns/results.html", results_context(occurrence_results(occurrence)))

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
                    brand_time_shown(occurrence.slot),
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
                    # In words, as on the results page (the stored statuses are codes: "queued:3").
                    "，".join(f"{status} {n}" for status, n in r.messages_words),
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
