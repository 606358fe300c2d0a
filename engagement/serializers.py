"""Partner API bodies of the engagement endpoints (the one definition of input and output)."""

from rest_framework import serializers

from crm.api.serializers import StrictSerializer


class CheckinInSerializer(StrictSerializer):
    channel = serializers.CharField(
        max_length=32,
        required=False,
        default="",
        allow_blank=True,
        help_text="Where the member tapped.",
    )


class MakeUpInSerializer(StrictSerializer):
    date = serializers.DateField(help_text="The brand business day to make up (YYYY-MM-DD), within the brand's window.")
    channel = serializers.CharField(max_length=32, required=False, default="", allow_blank=True)


class CalendarQuerySerializer(StrictSerializer):
    month = serializers.RegexField(
        r"^\d{4}-(0[1-9]|1[0-2])$", required=False, help_text="YYYY-MM in brand time; default: this month."
    )


class CheckinRewardOutSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["points", "growth", "coupon"])
    amount = serializers.IntegerField()
    label = serializers.CharField(help_text="What was granted, in words (zh-hans).")  # type: ignore[assignment]


class CheckinOutSerializer(serializers.Serializer):
    date = serializers.DateField(source="biz_date", help_text="Brand business day.")
    streak = serializers.IntegerField(help_text="Consecutive days through this day.")
    cycle_start = serializers.DateField()
    made_up = serializers.BooleanField()
    points = serializers.IntegerField(help_text="Points granted by this check-in (daily + ladder).")
    growth = serializers.IntegerField(help_text="Growth value granted by this check-in.")
    cost_points = serializers.IntegerField(help_text="Points paid for a make-up day.")
    rewards = CheckinRewardOutSerializer(many=True)
    created = serializers.BooleanField(help_text="False when the day was already checked in (double tap).")


class CalendarDayOutSerializer(serializers.Serializer):
    date = serializers.DateField()
    checked_in = serializers.BooleanField()
    made_up = serializers.BooleanField()
    can_make_up = serializers.BooleanField()
    rewards = CheckinRewardOutSerializer(many=True)


class LadderStepOutSerializer(serializers.Serializer):
    days = serializers.IntegerField()
    reward_kind = serializers.CharField()
    amount = serializers.IntegerField()
    label = serializers.CharField()  # type: ignore[assignment]  # a field named like Field.label
    claimed = serializers.BooleanField(help_text="Claimed in the current cycle.")


class CalendarOutSerializer(serializers.Serializer):
    month = serializers.DateField()
    today = serializers.DateField()
    checked_in_today = serializers.BooleanField()
    streak = serializers.IntegerField()
    cycle_start = serializers.DateField()
    cycle_end = serializers.DateField()
    makeups_left = serializers.IntegerField()
    makeup_cost_points = serializers.IntegerField()
    growth = serializers.IntegerField(help_text="The member's growth value (成长值).")
    days = CalendarDayOutSerializer(many=True)
    ladder = LadderStepOutSerializer(many=True)


class ReferralLinkInSerializer(StrictSerializer):
    device = serializers.CharField(
        max_length=64, required=False, default="", allow_blank=True, help_text="The member's device id, if known."
    )
    ip = serializers.IPAddressField(required=False, allow_null=True, default=None, help_text="The member's IP.")


class ReferralLinkOutSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="≤ 32 characters: fits a mini-program QR scene.")
    path = serializers.CharField(help_text="The invite page on the brand host, e.g. /m/i/<token>/.")


class InvitationOutSerializer(serializers.Serializer):
    invitee = serializers.CharField(help_text="Masked: 张* 138****1234.")
    joined = serializers.DateField(help_text="Brand business day of the enrolment.")
    status = serializers.ChoiceField(choices=["joined", "pending", "qualified", "rewarded", "reversed", "refused"])
    status_label = serializers.CharField()
    stage = serializers.ChoiceField(
        choices=["invited", "pending", "rewarded", "not_met", "reversed"],
        help_text="What the referrer reads first: 已邀请 / 待确认 / 已奖励 / 未达成 / 已撤回.",
    )
    stage_label = serializers.CharField()
    reason = serializers.CharField(help_text="Why, in Chinese (e.g. why no reward arrived).")
    rewards = serializers.ListField(child=serializers.CharField(), help_text="What the referrer got, in words.")


class InvitationsOutSerializer(serializers.Serializer):
    results = InvitationOutSerializer(many=True)
