from django import forms
from django.utils.translation import gettext_lazy as _

from crm.errors import AppError

from .models import Brand
from .services import brand_details_validate, brand_provision_validate

# Shown on both forms: what the two contact fields are for and what leaving them blank means.
CONTACT_HELP_TEXTS = {
    "contact_address": _("品牌（个人信息处理者）的联系地址，写入会员协议与隐私政策。"),
    "pi_contact": _(
        "个人信息保护负责人的电话或邮箱，写入会员协议与隐私政策。联系地址或本项留空时，会员协议保持草稿，"
        "须由品牌管理员补全并发布后才能办理入会。"
    ),
}


def _errors_show(form: forms.BaseForm, exc: AppError) -> None:
    for field, messages in exc.fields.items():
        for message in messages:
            form.add_error(field if field in form.fields else None, message)
    if not exc.fields:
        form.add_error(None, exc.message)


class BrandProvisionForm(forms.ModelForm):
    """The platform admin's "add brand" form: what `brand_provision` needs, nothing else."""

    slug = forms.CharField(label=_("品牌标识"), help_text=_("小写字母和数字，用作数据库 schema 和子域名。"))
    domain = forms.CharField(label=_("域名"), help_text=_("例如 acme.portal.example；开发环境为 acme.localhost。"))
    admin_email = forms.EmailField(label=_("品牌管理员邮箱"))
    admin_password = forms.CharField(
        label=_("品牌管理员密码"),
        required=False,
        widget=forms.PasswordInput,
        help_text=_("留空则自动生成，仅显示一次。"),
    )

    class Meta:
        model = Brand
        fields = ["name", "time_zone", "contact_address", "pi_contact"]
        help_texts = CONTACT_HELP_TEXTS

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        try:
            brand_provision_validate(
                slug=data["slug"].strip().lower(),
                name=data["name"],
                domain=data["domain"].strip().lower(),
                admin_email=data["admin_email"].strip().lower(),
                admin_password=data.get("admin_password") or None,
                time_zone=data["time_zone"],
                contact_address=data.get("contact_address", ""),
                pi_contact=data.get("pi_contact", ""),
            )
        except AppError as exc:
            _errors_show(self, exc)
        return data


class BrandDetailsForm(forms.ModelForm):
    """The platform admin's change form of an existing brand (saved by `brand_details_update`)."""

    class Meta:
        model = Brand
        fields = ["name", "time_zone", "contact_address", "pi_contact", "admin_session_hours", "export_keep_days"]
        help_texts = CONTACT_HELP_TEXTS

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Left empty (or absent from a script's POST), the brand keeps its current setting.
        self.fields["admin_session_hours"].required = False
        self.fields["export_keep_days"].required = False

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        try:
            brand_details_validate(
                name=data["name"],
                time_zone=data["time_zone"],
                contact_address=data.get("contact_address", ""),
                pi_contact=data.get("pi_contact", ""),
            )
        except AppError as exc:
            _errors_show(self, exc)
        return data
