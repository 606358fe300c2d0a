"""Input and output of the member centre's partner API (member code, member-centre links, the
mini-program's member-scoped endpoints)."""

from rest_framework import serializers

from crm.api.serializers import StrictSerializer


class EmptyInSerializer(StrictSerializer):
    """An empty object will do; `note` is kept in nothing but your own logs' terms."""

    note = serializers.CharField(max_length=100, required=False, help_text="Optional: your reference for the call.")


class MemberCodeInSerializer(StrictSerializer):
    code = serializers.CharField(max_length=64, help_text="The member code as scanned (18 digits).")


class MemberCodeConsumeInSerializer(StrictSerializer):
    code = serializers.CharField(max_length=64, help_text="The member code as scanned (18 digits).")
    reference = serializers.CharField(
        max_length=100,
        help_text="Your number for the operation that moves value (redemption, write-off). A retry with the "
        "same reference returns the same member; any other use of a used code is refused (409).",
    )


class MemberBriefOutSerializer(serializers.Serializer):
    member_no = serializers.CharField()
    name = serializers.CharField(help_text="Masked (王*).")
    tier = serializers.CharField(allow_null=True)
    points_balance = serializers.IntegerField()
    status = serializers.CharField()


class MemberCentreLinkOutSerializer(serializers.Serializer):
    url = serializers.CharField(help_text="Absolute URL on the brand's host; opening it signs the member in.")
    expires_at = serializers.DateTimeField()


class MiniProgramEvidenceSerializer(StrictSerializer):
    request_id = serializers.CharField(max_length=128, help_text="Your log reference of the code2session call.")
    appid = serializers.CharField(max_length=64, required=False, default="")


class MiniProgramSessionInSerializer(StrictSerializer):
    openid = serializers.CharField(max_length=128, required=False, default="")
    unionid = serializers.CharField(max_length=128, required=False, default="")
    evidence = MiniProgramEvidenceSerializer(help_text="Where the openid/unionid came from (code2session).")
    phone_code = serializers.CharField(
        max_length=128,
        required=False,
        default="",
        help_text=(
            "The code of the mini-program's getPhoneNumber button (手机号快速验证). Exchanged with WeChat "
            "(phonenumber.getuserphonenumber); the verified mobile finds the member and is linked to this "
            "openid/unionid, or comes back in the 404 as `verified_mobile` for enrolment."
        ),
    )

    def validate(self, attrs: dict) -> dict:
        if not attrs.get("openid") and not attrs.get("unionid"):
            raise serializers.ValidationError({"openid": ["openid 或 unionid 至少提供一个。"]})
        return attrs


class MiniProgramSessionOutSerializer(serializers.Serializer):
    member_no = serializers.CharField()
    member_token = serializers.CharField(help_text="Send as `X-Member-Token` on /api/v1/me/ endpoints.")
    expires_at = serializers.DateTimeField()


class ExpiringOutSerializer(serializers.Serializer):
    points = serializers.IntegerField()
    expires_at = serializers.DateTimeField()
    text = serializers.CharField()


class CardOutSerializer(serializers.Serializer):
    member_no = serializers.CharField()
    name = serializers.CharField()
    tier = serializers.CharField()
    next_tier = serializers.CharField(help_text="Empty at the top tier.")
    needed = serializers.IntegerField(help_text="Fen of spend (or points) still missing to the next tier.")
    needed_text = serializers.CharField(help_text="e.g. 再消费 ¥1,200.00 升级为金卡")
    progress_pct = serializers.IntegerField()
    tier_valid_until = serializers.CharField()
    points_balance = serializers.IntegerField()
    points_pending = serializers.IntegerField()
    expiring = ExpiringOutSerializer(many=True)


class MemberOrderOutSerializer(serializers.Serializer):
    channel = serializers.CharField()
    order_no = serializers.CharField()
    store = serializers.CharField(allow_null=True)
    paid_at = serializers.DateTimeField()
    amount_fen = serializers.IntegerField()
    refunded_fen = serializers.IntegerField()
    points_earned = serializers.IntegerField()
    text = serializers.CharField(help_text="The order in words, e.g. 在静安店消费 ¥128.00")


class OrderListOutSerializer(serializers.Serializer):
    results = MemberOrderOutSerializer(many=True)


class MemberCodeOutSerializer(serializers.Serializer):
    code = serializers.CharField()
    expires_at = serializers.DateTimeField()
    qr_svg = serializers.CharField(help_text="The code as an inline SVG QR code.")
    barcode_svg = serializers.CharField(help_text="The code as an inline SVG Code 128 barcode.")
