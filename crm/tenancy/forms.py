from django import forms
from django.utils.translation import gettext_lazy as _

from crm.errors import AppError

from .models import Brand
from .services import brand_provision_validate


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
        fields = ["name", "time_zone"]

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
            )
        except AppError as exc:
            for field, messages in exc.fields.items():
                for message in messages:
                    self.add_error(field if field in self.fields else None, message)
            if not exc.fields:
                self.add_error(None, exc.message)
        return data
