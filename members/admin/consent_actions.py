"""Consent on the member page: the member's current consents by purpose, and withdrawing one on
the member's behalf (DOMAIN.md: withdrawal is as easy as granting — admin, API and the member's
own page — and takes effect at once).

Withdrawing calls the same service as the partner API and the member's page
(consent.services.consent_withdraw), with evidence channel "admin", the staff user as actor, and
the user's Staff row and a note as evidence. The service's `on_withdraw` handlers cancel what is
queued for the purpose in the same transaction.

Who may: a user who may take consent in the store (`consent.add_consentsession`: brand admins,
store managers and store staff; not HQ marketers, whose consent access is read-only). Withdrawing
needs no more than granting (PIPL art. 15). Which members: those the admin's scoped queryset
shows (members/scoping.py) — another store's member is "not found", never a form.
"""

from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet, Value
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from consent.models import ConsentState, Purpose
from consent.services import consent_withdraw
from consent.types import ConsentEvidence
from crm.admin_forms import ThemedForm
from crm.errors import AppError
from crm.tenancy.zones import brand_zone

from ..models import Member
from ..scoping import member_in_scope, user_scope

WITHDRAW_PERMISSION = "consent.add_consentsession"


def _purpose_label(purpose: str) -> str:
    return str(Purpose(purpose).label) if purpose in Purpose.values else str(_("未知目的"))


def _granted_purposes(member: Member) -> list[str]:
    """The purposes the member currently grants, in the order purposes are declared."""
    granted = set(ConsentState.objects.filter(member=member, granted=True).values_list("purpose", flat=True))
    return [purpose for purpose in Purpose.values if purpose in granted]


class WithdrawConsentForm(ThemedForm):
    purpose = forms.CharField(label=_("撤回哪项同意"), widget=forms.RadioSelect)
    note = forms.CharField(
        label=_("说明"),
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"size": 60}),
        help_text=_("可选：会员如何提出撤回，如“来电要求不再接收短信”。记入授权记录的证据。"),
    )

    def __init__(self, *args: Any, granted: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.granted = granted
        widget = cast(forms.RadioSelect, self.fields["purpose"].widget)
        # Membership last: withdrawing it stops everything, so it is never the first thing offered.
        ordered = sorted(granted, key=lambda purpose: purpose == Purpose.MEMBERSHIP)
        widget.choices = [(purpose, _purpose_label(purpose)) for purpose in ordered]

    def clean_purpose(self) -> str:
        purpose = self.cleaned_data["purpose"]
        if purpose in self.granted:
            return purpose
        if purpose in Purpose.values:
            # Someone (the member on their page, a partner, a colleague) withdrew it meanwhile.
            raise forms.ValidationError(
                _("会员目前没有同意“%(purpose)s”，无需撤回；请刷新页面查看当前授权。"),
                params={"purpose": _purpose_label(purpose)},
            )
        raise forms.ValidationError(_("请选择要撤回的授权。"))


class MemberConsentActionsMixin:
    """For MemberAdmin: `consents_shown` on the member page and the withdraw-consent page."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.info_fields = (*self.info_fields, "consents_shown")  # type: ignore[has-type]

    def _can_withdraw_consent(self, request: HttpRequest, obj: Member | None) -> bool:
        return self.has_view_permission(request, obj) and request.user.has_perm(WITHDRAW_PERMISSION)  # type: ignore[attr-defined]

    @staticmethod
    def _consent_usable(obj: Member | None) -> bool:
        # Erasure withdraws every purpose itself; a merged member's consents went to the survivor.
        return obj is not None and obj.status not in (Member.Status.MERGED, Member.Status.ERASED)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        # consents_shown is rendered with the row only: the row carries whether the viewer may
        # withdraw (as MemberAdmin's rows carry pi_full).
        queryset = super().get_queryset(request)  # type: ignore[misc]
        return queryset.annotate(consent_withdraw_ok=Value(request.user.has_perm(WITHDRAW_PERMISSION)))

    @admin.display(description=_("授权状态"))
    def consents_shown(self, obj: Member) -> SafeString | str:
        states = {state.purpose: state for state in ConsentState.objects.filter(member=obj).select_related("record")}
        if not states:
            return "—"
        can_withdraw = self._consent_usable(obj) and getattr(obj, "consent_withdraw_ok", False)
        withdraw_url = reverse("admin:members_member_withdraw_consent", args=[obj.pk])
        zone = brand_zone()
        rows = []
        for purpose in Purpose.values:
            state = states.get(purpose)
            if state is None:
                continue
            if state.granted and state.needs_reconsent:
                status = _("已同意旧版本，需重新同意")
            else:
                status = _("已同意") if state.granted else _("未同意")
            when = timezone.localtime(state.record.recorded_at, zone).strftime("%Y-%m-%d %H:%M")
            link = (
                format_html(' <a href="{}?purpose={}">{}</a>', withdraw_url, purpose, _("撤回同意"))
                if can_withdraw and state.granted
                else ""
            )
            rows.append((_purpose_label(purpose), status, when, state.record.get_channel_display(), link))
        return format_html_join("", "<div>{}：{}（{}，{}）{}</div>", rows)

    def render_change_form(self, request: HttpRequest, context: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        obj = kwargs.get("obj") or context.get("original")
        context["can_withdraw_consent"] = (
            obj is not None
            and self._consent_usable(obj)
            and self._can_withdraw_consent(request, obj)
            and bool(_granted_purposes(obj))
        )
        return super().render_change_form(request, context, *args, **kwargs)  # type: ignore[misc]

    def get_urls(self) -> list[Any]:
        wrap = self.admin_site.admin_view  # type: ignore[attr-defined]
        return [
            path(
                "<path:object_id>/withdraw-consent/",
                wrap(self.withdraw_consent_view),
                name="members_member_withdraw_consent",
            ),
            *super().get_urls(),  # type: ignore[misc]
        ]

    def withdraw_consent_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """GET: the member's granted purposes to pick from and what withdrawing means; POST (with
        the CSRF token the admin requires): withdraw the picked one and go back to the member."""
        member = self.get_object(request, unquote(object_id))  # type: ignore[attr-defined]
        # The queryset is already scoped; member_in_scope is the same rule, checked on the row itself.
        if member is None or not member_in_scope(member, request.user):
            self.message_user(request, _("找不到该会员，或该会员不属于您的门店。"), messages.ERROR)  # type: ignore[attr-defined]
            return HttpResponseRedirect(reverse("admin:members_member_changelist"))
        if not self._can_withdraw_consent(request, member):
            raise PermissionDenied
        back = HttpResponseRedirect(reverse("admin:members_member_change", args=[member.pk]))
        if not self._consent_usable(member):
            self.message_user(  # type: ignore[attr-defined]
                request, _("该会员已删除或已合并，没有可撤回的授权。"), messages.ERROR
            )
            return back
        granted = _granted_purposes(member)
        if not granted:
            self.message_user(request, _("该会员目前没有已同意的授权，无需撤回。"), messages.WARNING)  # type: ignore[attr-defined]
            return back
        picked = request.GET.get("purpose")
        form = WithdrawConsentForm(
            request.POST if request.method == "POST" else None,
            granted=granted,
            initial={"purpose": picked if picked in granted else None},
        )
        if request.method == "POST" and form.is_valid():
            purpose = form.cleaned_data["purpose"]
            actor = request.user.get_username()
            extra = {"admin_user": actor}
            if form.cleaned_data["note"]:
                extra["note"] = form.cleaned_data["note"]
            evidence = ConsentEvidence(
                channel="admin",
                staff_id=user_scope(request.user).staff_id,
                ip=request.META.get("REMOTE_ADDR", ""),
                user_agent=request.META.get("HTTP_USER_AGENT", "")[:200],
                extra=extra,
            )
            try:
                consent_withdraw(member_id=member.pk, purpose=purpose, evidence=evidence, actor=actor)
            except AppError as exc:
                form.add_error(None, exc.message)
            else:
                self.message_user(  # type: ignore[attr-defined]
                    request,
                    _("已撤回会员 %(no)s 对“%(purpose)s”的同意，立即生效：该目的不再联系会员，待发送的消息已取消。")
                    % {"no": member.member_no, "purpose": _purpose_label(purpose)},
                    messages.SUCCESS,
                )
                return back
        context = {
            **self.admin_site.each_context(request),  # type: ignore[attr-defined]
            "title": _("撤回同意"),
            "opts": self.model._meta,  # type: ignore[attr-defined]
            "member": member,
            "form": form,
            "membership_granted": Purpose.MEMBERSHIP in granted,
            "membership_label": _purpose_label(Purpose.MEMBERSHIP),
        }
        return TemplateResponse(request, "admin/members/member/withdraw_consent.html", context)
