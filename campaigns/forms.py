from django import forms
from unfold.widgets import (
    UnfoldAdminCheckboxSelectMultipleWidget,
    UnfoldAdminTextareaWidget,
)

from crm.admin_forms import ChinesePicker  # the kernel's, shared with the coupons admin
from crm.errors import AppError
from members.models import Member

from .models import Campaign
from .services import campaign_validate

PICKER_HELP = {
    "stores": "按会员归属门店；不选表示所有门店。可输入门店名称或编号筛选。",
    "tags": "会员有任一所选标签即可；不选表示不限。",
    "assigned_staff": "按会员的专属导购；不选表示不限。",
}

WEEKDAY_CHOICES = [(1, "周一"), (2, "周二"), (3, "周三"), (4, "周四"), (5, "周五"), (6, "周六"), (7, "周日")]


class CampaignForm(forms.ModelForm):
    """The campaign builder: every criterion a widget with the brand's own choices (no codes to
    type), ranges checked for sense, messages in Chinese."""

    lifecycle_stages = forms.TypedMultipleChoiceField(
        label="生命周期",
        choices=Member.Lifecycle.choices,
        widget=UnfoldAdminCheckboxSelectMultipleWidget,
        required=False,
        help_text="不选表示不限。AIPL：认知 → 兴趣 → 购买 → 忠诚。",
        error_messages={"invalid_choice": "请选择列表中的生命周期阶段。"},
    )
    weekdays = forms.TypedMultipleChoiceField(
        label="每周几",
        choices=WEEKDAY_CHOICES,
        coerce=int,
        widget=UnfoldAdminCheckboxSelectMultipleWidget,
        required=False,
        help_text="频率为“每周”时必选。",
        error_messages={"invalid_choice": "请选择周一到周日。"},
    )

    class Meta:
        model = Campaign
        fields = [  # everything a marketer edits; status changes only through publish / pause / end
            "name",
            "type",
            "frequency",
            "time_of_day",
            "day_of_month",
            "weekdays",
            "run_at",
            "start_date",
            "end_date",
            "tiers",
            "stores",
            "tags",
            "assigned_staff",
            "lifecycle_stages",
            "enrolled_after",
            "enrolled_before",
            "purchased_within_days",
            "not_purchased_within_days",
            "points_min",
            "points_max",
            "holdout_pct",
            "multiplier_pct",
            "bonus_points",
            "bonus_expiry_days",
            "reward",
            "coupon_template",
            "message_channel",
            "message_template",
        ]
        widgets = {
            "message_template": UnfoldAdminTextareaWidget(attrs={"rows": 4}),
            "tiers": UnfoldAdminCheckboxSelectMultipleWidget,
            "stores": ChinesePicker,
            "tags": ChinesePicker,
            "assigned_staff": ChinesePicker,
        }
        help_texts = {
            "tiers": "不选表示所有等级。",
            **PICKER_HELP,
            "reward": "每位非对照组受众一份礼品，按库存发完为止。",
            "coupon_template": "每位非对照组受众一张该券（优惠券模板见“优惠券”）。",
            "holdout_pct": "随机留出该比例的会员不发放权益、不发消息，用于计算活动提升（0-50）。",
            "multiplier_pct": "100 为不加倍，200 为双倍积分。",
        }
        error_messages = {
            "day_of_month": {"max_value": "每月几号只能是 1-31。", "min_value": "每月几号只能是 1-31。"},
            "holdout_pct": {"max_value": "对照组比例不能超过 50%。"},
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.initial.setdefault("weekdays", list(self.instance.weekdays or []))
        self.initial.setdefault("lifecycle_stages", list(self.instance.lifecycle_stages or []))
        # The admin appends "Hold down Control…" to every multi-select; the picker needs no keys.
        # unfold's admin also restyles every multi-select as a plain list: give the pickers back.
        for name, text in PICKER_HELP.items():
            if name in self.fields:
                self.fields[name].help_text = text
                widget = self.fields[name].widget
                getattr(widget, "widget", widget).attrs["class"] = "unfold-admin-autocomplete"

    def clean(self):
        data = super().clean()
        self._ranges_check(data)
        instance = self.instance
        if self.errors or instance.status not in (Campaign.Status.SCHEDULED, Campaign.Status.PAUSED):
            return data
        # A live campaign must stay publishable after the edit: check the edited copy.
        for field, value in data.items():
            if field in {f.name for f in Campaign._meta.concrete_fields}:
                setattr(instance, field, value)
        try:
            campaign_validate(campaign=instance)
        except AppError as exc:
            for field, messages in exc.fields.items():
                for message in messages:
                    self.add_error(field if field in self.fields else None, message)
        return data

    def _ranges_check(self, data: dict) -> None:
        """Ranges that no member can satisfy are a mistake, not an audience."""
        low, high = data.get("points_min"), data.get("points_max")
        if low is not None and high is not None and low > high:
            self.add_error("points_max", "积分上限不能小于下限。")
        after, before = data.get("enrolled_after"), data.get("enrolled_before")
        if after and before and after > before:
            self.add_error("enrolled_before", "入会“不晚于”的日期不能早于“不早于”的日期。")
        within, not_within = data.get("purchased_within_days"), data.get("not_purchased_within_days")
        if within is not None and within < 1:
            self.add_error("purchased_within_days", "天数至少为 1。")
        if not_within is not None and not_within < 1:
            self.add_error("not_purchased_within_days", "天数至少为 1。")
        if within and not_within and not_within >= within:
            self.add_error(
                "not_purchased_within_days",
                f"“最近 {within} 天内购买过”与“最近 {not_within} 天内未购买”不可能同时满足。",
            )
        frequency = data.get("frequency")
        if frequency == Campaign.Frequency.WEEKLY and not data.get("weekdays"):
            self.add_error("weekdays", "每周活动请至少选择一天。")
        if frequency == Campaign.Frequency.MONTHLY and not data.get("day_of_month"):
            self.add_error("day_of_month", "每月活动请填写几号（1-31）。")
        if frequency == Campaign.Frequency.ONCE and not data.get("run_at"):
            self.add_error("run_at", "单次活动请填写执行时间。")


class PublishForm(forms.Form):
    confirm_empty_audience = forms.BooleanField(label="确认发布空受众活动（下次执行不会触达任何会员）", required=False)
