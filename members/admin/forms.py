"""Forms of the member admin pages (enrolment, merge, import). They collect input; the services
validate and write."""

from typing import Any, cast

from django import forms
from django.contrib.admin.helpers import ActionForm
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from consent.models import AgreementVersion, ConsentSession, Purpose
from crm.admin_forms import ThemedForm
from crm.spreadsheets.reading import MAX_UPLOAD_BYTES

from ..models import IdentityKind, Member, Staff, Store, Tag

EXTRA_IDENTITY_ROWS = 3


class MemberActionForm(ActionForm):
    """The action bar gets a tag picker, used by the tag/untag actions."""

    tag = forms.ModelChoiceField(queryset=Tag.objects.all(), required=False, label=_("标签"))


class EnrolForm(ThemedForm):
    name = forms.CharField(label=_("姓名"), max_length=50, required=False)
    mobile = forms.CharField(label=_("手机号"), max_length=32, help_text=_("中国大陆 11 位手机号，或 +国家码 开头"))
    gender = forms.ChoiceField(label=_("性别"), choices=Member.Gender.choices, initial=Member.Gender.UNKNOWN)
    birthday = forms.DateField(label=_("生日"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    home_store = forms.ModelChoiceField(label=_("归属门店"), queryset=Store.objects.none(), required=False)
    staff = forms.ModelChoiceField(label=_("经办导购"), queryset=Staff.objects.none(), required=False)
    consent_session = forms.ModelChoiceField(
        label=_("顾客已确认的授权"),
        queryset=ConsentSession.objects.none(),
        required=False,
        help_text=_(
            "顾客已在本人手机上扫码确认（或已登记纸质授权书）时选择：授权决定与证据取自该会话，"
            "下方的逐项勾选、纸质授权书编号和监护人信息将被忽略。未选择时按下方勾选登记。"
        ),
        error_messages={
            "invalid_choice": _("所选授权会话不可用：已用于入会、已取消或不属于本门店，请刷新后重新选择。")
        },
    )
    guardian_name = forms.CharField(label=_("监护人姓名"), max_length=50, required=False)
    guardian_relation = forms.CharField(label=_("与会员关系"), max_length=20, required=False)
    guardian_mobile = forms.CharField(label=_("监护人手机号"), max_length=32, required=False)
    paper_reference = forms.CharField(
        label=_("纸质授权书编号"), max_length=64, required=False, help_text=_("会员在纸质表单上签字时填写")
    )

    def __init__(
        self,
        *args: Any,
        stores: Any,
        staff: Any,
        versions: list[AgreementVersion],
        consent_sessions: Any,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        # `self.fields` is typed as holding base Fields; these are the ModelChoiceFields declared above.
        cast("forms.ModelChoiceField[Store]", self.fields["home_store"]).queryset = stores
        cast("forms.ModelChoiceField[Staff]", self.fields["staff"]).queryset = staff
        session_field = cast("forms.ModelChoiceField[ConsentSession]", self.fields["consent_session"])
        session_field.queryset = consent_sessions
        # Staff pick the customer standing in front of them: who served them and when they confirmed.
        session_field.label_from_instance = lambda s: (  # type: ignore[method-assign,assignment]  # per-form override
            f"#{s.pk} {s.get_mode_display()} · {s.staff} · {timezone.localtime(s.submitted_at):%m-%d %H:%M}"
        )
        for n in range(EXTRA_IDENTITY_ROWS):
            self.fields[f"identity_kind_{n}"] = forms.ChoiceField(
                label=_("其他身份类型"),
                choices=[("", "—")] + [c for c in IdentityKind.choices if c[0] != IdentityKind.MOBILE],
                required=False,
            )
            self.fields[f"identity_value_{n}"] = forms.CharField(label=_("身份值"), max_length=128, required=False)
        # One checkbox per purpose of each current agreement version, unticked: PIPL wants a
        # separate, active decision per purpose (no pre-ticked boxes, no "agree to all").
        self.consent_fields: list[tuple[str, AgreementVersion, str]] = []
        labels = dict(Purpose.choices)
        for version in versions:
            for purpose in version.purposes:
                field_name = f"consent_{version.pk}_{purpose}"
                self.fields[field_name] = forms.BooleanField(
                    label=f"{labels.get(purpose, purpose)}（{version}）", required=False, initial=False
                )
                self.consent_fields.append((field_name, version, purpose))

    def identities(self) -> list[tuple[str, str]]:
        pairs = []
        for n in range(EXTRA_IDENTITY_ROWS):
            kind, value = self.cleaned_data.get(f"identity_kind_{n}"), self.cleaned_data.get(f"identity_value_{n}")
            if kind and value:
                pairs.append((kind, value))
        return pairs


class MergeForm(ThemedForm):
    survivor = forms.ChoiceField(label=_("保留哪个会员"), widget=forms.RadioSelect)
    reason = forms.CharField(label=_("合并原因"), max_length=255)

    def __init__(self, *args: Any, members: list[Member], labels: dict[int, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["survivor"]).choices = [(str(m.pk), labels[m.pk]) for m in members]


def upload_size_check(upload: Any) -> None:
    """Refuse an oversized upload before anything reads it into memory (the import services
    check the same bound, and everything else, on the bytes)."""
    if upload.size > MAX_UPLOAD_BYTES:
        raise forms.ValidationError(f"文件过大（上限 {MAX_UPLOAD_BYTES // 1024 // 1024} MB）。")


class ImportForm(ThemedForm):
    file = forms.FileField(label=_("文件（CSV 或 XLSX）"), validators=[upload_size_check])
    staff = forms.ModelChoiceField(label=_("经办导购（可选）"), queryset=Staff.objects.none(), required=False)

    def __init__(self, *args: Any, staff: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast("forms.ModelChoiceField[Staff]", self.fields["staff"]).queryset = staff


class OrderImportForm(ThemedForm):
    file = forms.FileField(label=_("文件（CSV 或 XLSX）"), validators=[upload_size_check])
    earn_points = forms.BooleanField(
        label=_("历史订单计算积分"),
        required=False,
        initial=False,
        help_text=_(
            "默认不勾选：历史订单（会员计划或本次导入之前的消费）不发放积分，但仍计入等级统计窗口内的消费金额、"
            "会员交易占比、最近消费时间与生命周期。勾选后按当前积分规则计算积分，积分有效期从今天起算"
            "（仅限可不限额调整积分的账号，如品牌管理员）。"
        ),
    )
