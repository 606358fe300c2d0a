"""Loyalty actions on the member page: adjust points, redeem a reward, set or remove the manual
tier floor, and the tier progress line.

Kept apart from members.py (profile, enrolment, import) and mixed into MemberAdmin. Each view
loads the member through the admin's scoped queryset, so a store user asking for another store's
member gets 404, not a form. The services decide everything else (role limits, balance, stock,
frozen); their AppError messages are shown on the form. Every form carries a reference generated
when it is shown, so submitting it twice (double click, back + resubmit) changes points (or the
tier) once.
"""

import uuid
from typing import TYPE_CHECKING, Any, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _

from crm.admin_forms import ThemedForm
from crm.errors import AppError

from ..hooks import member_page_tools_for
from ..models import Member, Reward, Tier
from ..scoping import member_in_scope
from ..services.points_adjustments import HELD_MESSAGE, points_adjust, points_adjust_limit, points_adjust_limits
from ..services.rewards import reward_redeem
from ..services.tiers import tier_grant_manual, tier_progress, tier_remove_manual
from ..tier_words import tier_amount, tier_measure

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise


def _new_reference() -> str:
    return uuid.uuid4().hex


def _staff_user(request: HttpRequest) -> User:
    """The user of an admin page: admin_view lets only logged-in staff in, never AnonymousUser."""
    return cast(User, request.user)


class AdjustPointsForm(ThemedForm):
    points = forms.IntegerField(label=_("调整积分"), help_text=_("正数增加，负数扣减。"))
    reason = forms.CharField(label=_("原因"), max_length=200, widget=forms.TextInput(attrs={"size": 60}))
    reference = forms.UUIDField(widget=forms.HiddenInput)

    def clean_points(self) -> int:
        points = self.cleaned_data["points"]
        if points == 0:
            raise forms.ValidationError(_("调整积分不能为 0。"))
        return points


class RedeemForm(ThemedForm):
    reward = forms.ModelChoiceField(label=_("礼品"), queryset=Reward.objects.none(), empty_label=None)
    quantity = forms.IntegerField(label=_("数量"), min_value=1, max_value=100, initial=1)
    reference = forms.UUIDField(widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = cast("forms.ModelChoiceField[Reward]", self.fields["reward"])
        field.queryset = Reward.objects.filter(Q(stock__isnull=True) | Q(stock__gt=0), is_active=True)
        field.label_from_instance = lambda reward: (  # type: ignore[method-assign,assignment]  # per-form override
            f"{reward.name}（{reward.points_cost} 积分，库存 {'不限' if reward.stock is None else reward.stock}）"
        )


class SetTierForm(ThemedForm):
    tier = forms.ModelChoiceField(
        label=_("保底等级"),
        queryset=Tier.objects.order_by("rank"),
        required=False,
        empty_label=_("取消手动保底等级"),
        help_text=_("会员等级不会低于保底等级，直到取消；当前等级较低时立即升至该等级。"),
    )
    reason = forms.CharField(label=_("原因"), max_length=200, widget=forms.TextInput(attrs={"size": 60}))
    reference = forms.UUIDField(widget=forms.HiddenInput)


def _add_service_error(form: forms.Form, exc: AppError) -> None:
    """The service's message on the field it names (when the form has it), else on the form."""
    targets = [field for field in exc.fields if field in form.fields and field != "reference"]
    if targets:
        for field in targets:
            form.add_error(field, exc.message)
    else:
        form.add_error(None, exc.message)


class MemberLoyaltyActionsMixin:
    """For MemberAdmin: the adjust-points, redeem and tier-floor pages, their buttons, and
    `tier_progress_shown`."""

    # --- the member page ---

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Shown next to the tier fields; MemberAdmin makes every field it does not let you edit readonly.
        fields = list(self.info_fields)  # type: ignore[has-type]
        at = fields.index("tier_floor") + 1 if "tier_floor" in fields else len(fields)
        self.info_fields = (*fields[:at], "tier_progress_shown", *fields[at:])

    @admin.display(description=_("等级进度"))
    def tier_progress_shown(self, obj: Member) -> str:
        progress = tier_progress(member=obj)
        current = f"当前等级：{progress.current.name if progress.current else '无等级'}"
        if progress.next is None:
            return f"{current}；已是最高等级"
        upcoming = progress.next
        window = f"近 {progress.window_days} 天" if progress.window_days else "累计"
        basis = tier_measure(upcoming)
        done = f"{window}{basis} {tier_amount(upcoming, progress.qualifying)}"
        if progress.needed <= 0:
            return f"{current}；下一等级：{upcoming.name}（已达标 {done}，待升级）"
        return (
            f"{current}；下一等级：{upcoming.name}（需{window}{basis} {tier_amount(upcoming, upcoming.threshold)}，"
            f"已 {tier_amount(upcoming, progress.qualifying)}，还差 {tier_amount(upcoming, progress.needed)}）"
        )

    def _can_adjust(self, request: HttpRequest, obj: Member | None) -> bool:
        return self.has_change_permission(request, obj) and points_adjust_limit(user=request.user) != 0  # type: ignore[attr-defined]

    def _can_redeem(self, request: HttpRequest, obj: Member | None) -> bool:
        return self.has_change_permission(request, obj) and request.user.has_perm("members.add_redemption")  # type: ignore[attr-defined]

    def _can_set_tier(self, request: HttpRequest, obj: Member | None) -> bool:
        return self.has_change_permission(request, obj) and request.user.has_perm("members.add_tierchange")  # type: ignore[attr-defined]

    @staticmethod
    def _usable(obj: Member | None) -> bool:
        return obj is not None and obj.status not in (Member.Status.MERGED, Member.Status.ERASED)

    def render_change_form(self, request: HttpRequest, context: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        obj = kwargs.get("obj") or context.get("original")
        usable = self._usable(obj)
        context["can_adjust_points"] = usable and self._can_adjust(request, obj)
        context["can_redeem"] = usable and self._can_redeem(request, obj)
        context["can_set_tier"] = usable and self._can_set_tier(request, obj)
        # The apps above add theirs (coupons: 发券), each deciding whether this viewer may.
        context["member_tools"] = member_page_tools_for(user=request.user, member_id=obj.pk) if obj and usable else []
        return super().render_change_form(request, context, *args, **kwargs)  # type: ignore[misc]

    # --- pages ---

    def get_urls(self) -> list[Any]:
        wrap = self.admin_site.admin_view  # type: ignore[attr-defined]
        return [
            path("<path:object_id>/adjust-points/", wrap(self.adjust_points_view), name="members_member_adjust_points"),
            path("<path:object_id>/redeem/", wrap(self.redeem_view), name="members_member_redeem"),
            path("<path:object_id>/tier/", wrap(self.tier_view), name="members_member_tier"),
            *super().get_urls(),  # type: ignore[misc]
        ]

    def _member(self, request: HttpRequest, object_id: str) -> Member:
        member = self.get_object(request, unquote(object_id))  # type: ignore[attr-defined]
        # The queryset is already scoped; member_in_scope is the same rule, checked on the row itself.
        if member is None or not member_in_scope(member, request.user):
            raise Http404
        return member

    def _page(
        self, request: HttpRequest, member: Member, template: str, title: "StrOrPromise", **extra: Any
    ) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),  # type: ignore[attr-defined]
            "title": title,
            "opts": self.model._meta,  # type: ignore[attr-defined]
            "member": member,
            **extra,
        }
        return TemplateResponse(request, f"admin/members/member/{template}", context)

    def _back(self, member: Member) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:members_member_change", args=[member.pk]))

    def adjust_points_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        member = self._member(request, object_id)
        if not self._can_adjust(request, member):
            raise PermissionDenied
        form = AdjustPointsForm(request.POST or None, initial={"reference": _new_reference()})
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                adjustment = points_adjust(
                    member=member,
                    points=data["points"],
                    reason=data["reason"],
                    actor=_staff_user(request),
                    reference=f"admin-adjust:{data['reference'].hex}",
                )
            except AppError as exc:
                _add_service_error(form, exc)
            else:
                if adjustment.entry is not None:
                    self.message_user(  # type: ignore[attr-defined]
                        request,
                        f"已为会员 {member.member_no} 调整 {adjustment.entry.points:+d} 积分，"
                        f"当前可用 {member.points_balance} 积分。",
                        messages.SUCCESS,
                    )
                elif adjustment.request is not None:
                    held = adjustment.request
                    self.message_user(  # type: ignore[attr-defined]
                        request,
                        f"{HELD_MESSAGE}申请 #{held.pk}：会员 {member.member_no} {held.points:+d} 积分，"
                        f"{held.get_status_display()}；积分尚未变动。",
                        messages.WARNING,
                    )
                return self._back(member)
        limits = points_adjust_limits(user=request.user)
        return self._page(request, member, "adjust_points.html", _("调整积分"), form=form, limits=limits)

    def redeem_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        member = self._member(request, object_id)
        if not self._can_redeem(request, member):
            raise PermissionDenied
        form = RedeemForm(request.POST or None, initial={"reference": _new_reference()})
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                redemption = reward_redeem(
                    member=member,
                    reward=data["reward"],
                    quantity=data["quantity"],
                    reference=f"admin-redeem:{data['reference'].hex}",
                    actor=_staff_user(request),
                )
            except AppError as exc:
                _add_service_error(form, exc)
            else:
                self.message_user(  # type: ignore[attr-defined]
                    request,
                    f"会员 {member.member_no} 已兑换 {data['reward'].name} ×{redemption.quantity}，"
                    f"消耗 {redemption.points} 积分，当前可用 {member.points_balance} 积分。",
                    messages.SUCCESS,
                )
                return self._back(member)
        return self._page(request, member, "redeem.html", _("兑换礼品"), form=form)

    def tier_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        member = self._member(request, object_id)
        # Merged and erased members are out of all loyalty processing: no floor to set or remove.
        if not self._usable(member) or not self._can_set_tier(request, member):
            raise PermissionDenied
        form = SetTierForm(request.POST or None, initial={"tier": member.tier_floor_id, "reference": _new_reference()})
        if request.method == "POST" and form.is_valid():
            tier, reason = form.cleaned_data["tier"], form.cleaned_data["reason"]
            # The services look the reference up under the member lock (it ends the TierChange
            # note), so a second submit of this form returns the first change and changes nothing.
            reference = f"admin-tier:{form.cleaned_data['reference'].hex}"
            done: str | None = None
            try:
                if tier is not None:
                    tier_grant_manual(
                        member=member, tier=tier, reason=reason, actor=_staff_user(request), reference=reference
                    )
                    done = f"已为会员 {member.member_no} 设置保底等级 {tier.name}"
                elif tier_remove_manual(member=member, reason=reason, actor=_staff_user(request), reference=reference):
                    done = f"已取消会员 {member.member_no} 的手动保底等级"
            except AppError as exc:
                _add_service_error(form, exc)
            else:
                if done is None:  # nothing to remove: say so rather than report a change
                    form.add_error("tier", _("该会员没有手动保底等级。"))
                else:
                    current = member.tier.name if member.tier is not None else "无等级"
                    self.message_user(request, f"{done}，当前等级 {current}。", messages.SUCCESS)  # type: ignore[attr-defined]
                    return self._back(member)
        return self._page(request, member, "tier.html", _("设置保底等级"), form=form)
