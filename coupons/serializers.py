"""Partner API bodies of the coupons app (money in fen, as everywhere in the API)."""

from typing import Any

from rest_framework import serializers

from crm.api.serializers import StrictSerializer

from . import rules
from .models import Coupon, CouponRedemption

CODE_HELP = "The coupon code as scanned or typed (case, spaces and dashes ignored); a generic code needs member_no."


class _CouponOrderFields(StrictSerializer):
    code = serializers.CharField(max_length=40, help_text=CODE_HELP)
    member_no = serializers.CharField(max_length=20, required=False, help_text="The member presenting the coupon.")
    store_code = serializers.CharField(max_length=32, required=False, help_text="Where it is used (store scope).")
    channel = serializers.CharField(max_length=20, help_text="Sales channel of the order, e.g. store.")
    order_no = serializers.CharField(max_length=64)
    order_amount_fen = serializers.IntegerField(min_value=0, max_value=10**11, help_text="Payable before the coupon.")
    shipping_fen = serializers.IntegerField(min_value=0, max_value=10**9, required=False, default=0)


class CouponValidateInSerializer(_CouponOrderFields):
    order_no = serializers.CharField(max_length=64, required=False, default="")


class CouponRedeemInSerializer(_CouponOrderFields):
    request_no = serializers.CharField(
        max_length=64, help_text="Your unique id of this write-off: a replay returns the first result."
    )


class CouponIssueInSerializer(StrictSerializer):
    template_id = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    source_key = serializers.CharField(max_length=100, help_text="Your unique id of this issue (retry-safe).")
    staff_userid = serializers.CharField(
        max_length=64,
        required=False,
        default="",
        help_text="The WeCom userid of the staff member sending it to their customer (a guide's sidebar tool); "
        "it credits that staff member's performance as a touch.",
    )


class CouponRollbackInSerializer(StrictSerializer):
    reason = serializers.CharField(max_length=200, required=False, default="", help_text="Why (kept in the history).")


class CouponReasonSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


class CouponOutSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    template_id = serializers.IntegerField()
    name = serializers.CharField(source="template.name")
    kind = serializers.CharField(source="template.kind")
    benefit = serializers.SerializerMethodField()
    state = serializers.CharField()
    code = serializers.CharField(help_text="Generated codes in full; imported ones by their last characters.")
    valid_from = serializers.DateTimeField()
    valid_until = serializers.DateTimeField()

    def get_benefit(self, coupon: Coupon) -> str:
        return rules.benefit_words(coupon.template)


class CouponValidateOutSerializer(serializers.Serializer):
    usable = serializers.BooleanField()
    reasons = CouponReasonSerializer(many=True)
    discount_fen = serializers.IntegerField()
    payable_after_fen = serializers.IntegerField()
    coupon = CouponOutSerializer()


class CouponRedemptionOutSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    request_no = serializers.CharField()
    status = serializers.CharField()
    coupon_id = serializers.IntegerField()
    channel = serializers.CharField()
    order_no = serializers.CharField()
    order_amount_fen = serializers.IntegerField()
    discount_fen = serializers.IntegerField()
    discount_refunded_fen = serializers.IntegerField()
    redeemed_at = serializers.DateTimeField()


class MemberCouponOutSerializer(CouponOutSerializer):
    usable = serializers.BooleanField()
    reasons = CouponReasonSerializer(many=True)


def member_coupon_data(view: Any) -> dict[str, Any]:
    data = CouponOutSerializer(view.coupon).data
    return {
        **data,
        "usable": view.usable,
        "reasons": [{"code": c, "message": t} for c, t in zip(view.reasons, view.reason_texts, strict=True)],
    }


__all__ = ["CouponRedemption"]
