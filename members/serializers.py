"""Partner API serializers of the members app: strict inputs (unknown and read-only fields are
refused, see crm.api.serializers.StrictSerializer) and explicit outputs. They check shape and
types only; every business rule (consent gate, OneID conflicts, balances) is the services'."""

from typing import Any

from rest_framework import serializers

from consent.models import Purpose
from crm.api.serializers import StrictSerializer
from crm.errors import AppError

from .models import IdentityKind, Member, PointsEntry, SalesChannel
from .selectors import MEMBER_NO, identity_value_normalize
from .services.points import POINTS_MAX_PER_ENTRY

# Upper bounds that keep numbers inside the database types and far above any real order.
MAX_FEN = 10**12  # ten billion yuan
MAX_POINTS = POINTS_MAX_PER_ENTRY
ORDER_LINES_MAX = 200
IDENTITIES_MAX = 10

MEMBER_NO_HELP = "Brand-unique member number, e.g. M00000042 (never a database id)."


# --- inputs ---------------------------------------------------------------------------------------


class IdentityInSerializer(StrictSerializer):
    kind = serializers.ChoiceField(choices=IdentityKind.choices)
    value = serializers.CharField(max_length=128)


class ConsentDecisionInSerializer(StrictSerializer):
    purpose = serializers.ChoiceField(choices=Purpose.choices)
    granted = serializers.BooleanField()
    version_id = serializers.IntegerField(
        min_value=1, max_value=2**31 - 1, help_text="An agreement version id from GET /api/v1/agreements."
    )


class GuardianInSerializer(StrictSerializer):
    name = serializers.CharField(max_length=50)
    relation = serializers.CharField(max_length=20, help_text="e.g. 父亲, 母亲, 监护人")
    mobile = serializers.CharField(max_length=20, required=False, default="")
    evidence_reference = serializers.CharField(max_length=128, required=False, default="")


class ConsentEvidenceInSerializer(StrictSerializer):
    partner_reference = serializers.CharField(
        max_length=128,
        help_text=(
            "Your reference to the consent the BRAND obtained (its own agreement screen, signed "
            "form...). A platform's consent (Tmall, JD, Douyin) is not the brand's and is not accepted."
        ),
    )
    ip = serializers.IPAddressField(required=False, default="")
    user_agent = serializers.CharField(max_length=300, required=False, default="")
    guardian = GuardianInSerializer(required=False, help_text="Required when the member is under 14 (PIPL art. 31).")


class MemberEnrolInSerializer(StrictSerializer):
    name = serializers.CharField(max_length=50, required=False, default="", allow_blank=True)
    mobile = serializers.CharField(max_length=20, required=False, default="", allow_blank=True)
    gender = serializers.ChoiceField(choices=Member.Gender.choices, required=False, default=Member.Gender.UNKNOWN)
    birthday = serializers.DateField(required=False, allow_null=True, default=None)
    home_store = serializers.CharField(max_length=32, required=False, help_text="Store code")
    channel = serializers.ChoiceField(choices=SalesChannel.choices, required=False, default=SalesChannel.OTHER)
    # many=True hands min_length/max_length to the ListSerializer (DRF's LIST_SERIALIZER_KWARGS);
    # the stub of BaseSerializer.__init__ does not list them.
    identities = IdentityInSerializer(  # type: ignore[call-arg]  # list kwargs, see above
        many=True, required=False, default=list, max_length=IDENTITIES_MAX
    )
    consents = ConsentDecisionInSerializer(  # type: ignore[call-arg]  # list kwargs, see above
        many=True,
        min_length=1,
        max_length=len(Purpose.values),
        help_text="One decision per purpose; `membership` must be granted against the current version.",
    )
    consent_evidence = ConsentEvidenceInSerializer()
    # Maintained by the platform: posting them is refused, not silently ignored.
    member_no = serializers.CharField(read_only=True)
    tier = serializers.CharField(read_only=True)
    points_balance = serializers.IntegerField(read_only=True)
    status = serializers.CharField(read_only=True)


class MemberPatchInSerializer(StrictSerializer):
    name = serializers.CharField(max_length=50, required=False, allow_blank=True)
    mobile = serializers.CharField(max_length=20, required=False, allow_blank=True)
    gender = serializers.ChoiceField(choices=Member.Gender.choices, required=False)
    birthday = serializers.DateField(required=False, allow_null=True)
    home_store = serializers.CharField(max_length=32, required=False, allow_null=True, help_text="Store code")
    member_no = serializers.CharField(read_only=True)
    tier = serializers.CharField(read_only=True)
    points_balance = serializers.IntegerField(read_only=True)
    points_pending = serializers.IntegerField(read_only=True)
    status = serializers.CharField(read_only=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs:
            raise serializers.ValidationError("Nothing to change.")
        return attrs


class MemberLookupInSerializer(StrictSerializer):
    kind = serializers.ChoiceField(choices=[*IdentityKind.choices, (MEMBER_NO, "Member number")])
    value = serializers.CharField(max_length=128)


class MemberMergeInSerializer(StrictSerializer):
    survivor_member_no = serializers.CharField(max_length=20)
    merged_member_no = serializers.CharField(max_length=20)
    reason = serializers.CharField(max_length=255)


class BuyerInSerializer(StrictSerializer):
    kind = serializers.ChoiceField(choices=IdentityKind.choices)
    value = serializers.CharField(max_length=128)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # Identities are stored normalised (a mobile as E.164); the order engine matches exactly.
        try:
            attrs["value"] = identity_value_normalize(kind=attrs["kind"], value=attrs["value"])
        except AppError as exc:
            raise serializers.ValidationError({"value": [exc.message]}) from exc
        return attrs


class OrderLineInSerializer(StrictSerializer):
    sku = serializers.CharField(max_length=64)
    name = serializers.CharField(max_length=200, required=False, default="", allow_blank=True)
    quantity = serializers.IntegerField(min_value=1, max_value=100_000, required=False, default=1)
    amount_fen = serializers.IntegerField(min_value=0, max_value=MAX_FEN)


class OrderInSerializer(StrictSerializer):
    channel = serializers.ChoiceField(choices=SalesChannel.choices)
    order_no = serializers.CharField(max_length=64)
    paid_at = serializers.DateTimeField(help_text="ISO 8601 with a time zone offset.")
    amount_fen = serializers.IntegerField(min_value=0, max_value=MAX_FEN, help_text="Paid amount in fen (分).")
    store = serializers.CharField(max_length=32, required=False, help_text="Store code")
    buyer = BuyerInSerializer(required=False, help_text="Omit for a tourist (non-member) order.")
    # many=True hands max_length to the ListSerializer; the stub of BaseSerializer.__init__ does not list it.
    lines = OrderLineInSerializer(  # type: ignore[call-arg]  # list kwarg, see above
        many=True, required=False, default=list, max_length=ORDER_LINES_MAX
    )
    points_redeemed = serializers.IntegerField(
        min_value=0,
        max_value=MAX_POINTS,
        required=False,
        default=0,
        help_text=(
            "Points the member pays with (points-as-cash), included in `amount_fen`: debited with the order, "
            "or the whole order is refused (`points_insufficient`, `points_cash_over_cap`, "
            "`points_cash_disabled`, `points_cash_not_member`, `member_not_eligible`). Points are earned on "
            "`amount_fen` minus their value."
        ),
    )
    # Computed by the platform.
    points_earned = serializers.IntegerField(read_only=True)
    member_no = serializers.CharField(read_only=True)


class OrderBatchInSerializer(StrictSerializer):
    orders = serializers.ListField(
        child=serializers.JSONField(), help_text="Up to 500 orders, each as for POST /api/v1/orders."
    )


class RefundInSerializer(StrictSerializer):
    refund_no = serializers.CharField(max_length=64)
    amount_fen = serializers.IntegerField(min_value=1, max_value=MAX_FEN)
    refunded_at = serializers.DateTimeField()
    points_reversed = serializers.IntegerField(read_only=True)


class RedemptionInSerializer(StrictSerializer):
    reward = serializers.CharField(max_length=32, help_text="Reward code from GET /api/v1/rewards.")
    quantity = serializers.IntegerField(min_value=1, max_value=100, required=False, default=1)
    reference = serializers.CharField(max_length=128, help_text="Your unique id of this redemption (retry-safe).")
    points = serializers.IntegerField(read_only=True)


class AdjustmentInSerializer(StrictSerializer):
    points = serializers.IntegerField(min_value=-MAX_POINTS, max_value=MAX_POINTS, help_text="Non-zero, + or −.")
    reason = serializers.CharField(max_length=255)
    reference = serializers.CharField(max_length=128, help_text="Your unique id of this adjustment (retry-safe).")
    balance = serializers.IntegerField(read_only=True)


# --- outputs ----------------------------------------------------------------------------------------


class IdentityOutSerializer(serializers.Serializer):
    kind = serializers.CharField()
    value = serializers.CharField()


class TierRefSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    rank = serializers.IntegerField()


class MemberOutSerializer(serializers.Serializer):
    member_no = serializers.CharField(help_text=MEMBER_NO_HELP)
    name = serializers.CharField()
    mobile = serializers.CharField(help_text="E.164")
    gender = serializers.CharField()
    birthday = serializers.DateField(allow_null=True)
    status = serializers.CharField()
    lifecycle_stage = serializers.CharField()
    home_store = serializers.CharField(source="home_store.code", allow_null=True, default=None)
    enrolled_at = serializers.DateTimeField()
    enrolled_channel = serializers.CharField()
    tier = TierRefSerializer(allow_null=True)
    tier_expires_at = serializers.DateTimeField(allow_null=True)
    points_balance = serializers.IntegerField()
    points_pending = serializers.IntegerField()
    points_debt = serializers.IntegerField()
    identities = IdentityOutSerializer(many=True, source="identities.all")


class MemberMergeOutSerializer(serializers.Serializer):
    survivor = MemberOutSerializer()
    merged_member_no = serializers.CharField()
    moved = serializers.DictField()


class OrderOutSerializer(serializers.Serializer):
    channel = serializers.CharField()
    order_no = serializers.CharField()
    paid_at = serializers.DateTimeField()
    amount_fen = serializers.IntegerField()
    refunded_fen = serializers.IntegerField()
    store = serializers.CharField(source="store.code", allow_null=True, default=None)
    member_no = serializers.CharField(source="member.member_no", allow_null=True, default=None)
    is_member_order = serializers.BooleanField()
    points_earned = serializers.IntegerField()
    points_redeemed = serializers.IntegerField(help_text="Points paid with (points-as-cash).")
    points_cash_fen = serializers.IntegerField(help_text="Value of `points_redeemed` in fen, part of `amount_fen`.")


class OrderItemErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    detail = serializers.CharField()
    # The output key "fields". SerializerMetaclass pops declared fields off the class, so this does
    # not replace Serializer.fields at runtime, but mypy sees the class attribute.
    fields = serializers.DictField(  # type: ignore[assignment]  # popped by the metaclass, see above
        child=serializers.ListField(child=serializers.CharField())
    )


class OrderItemResultSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["created", "duplicate", "rejected"])
    channel = serializers.CharField(allow_null=True)
    order_no = serializers.CharField(allow_null=True)
    member_no = serializers.CharField(allow_null=True)
    points_earned = serializers.IntegerField()
    points_redeemed = serializers.IntegerField(help_text="Points-as-cash debited now (0 for a duplicate).")
    points_cash_fen = serializers.IntegerField(
        help_text="Value of `points_redeemed` in fen, paid with points (0 when nothing was debited now)."
    )
    error = OrderItemErrorSerializer(allow_null=True)


class OrderBatchOutSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    rejected = serializers.IntegerField()
    results = OrderItemResultSerializer(many=True)


class RefundOutSerializer(serializers.Serializer):
    refund_no = serializers.CharField()
    amount_fen = serializers.IntegerField()
    refunded_at = serializers.DateTimeField()
    points_reversed = serializers.IntegerField()
    points_returned = serializers.IntegerField(help_text="Points-as-cash given back, pro rata to the amount.")
    order = OrderOutSerializer()


class PointsSummaryOutSerializer(serializers.Serializer):
    member_no = serializers.CharField()
    balance = serializers.IntegerField(help_text="Spendable now.")
    pending = serializers.IntegerField(help_text="Earned, not yet usable (pending period).")
    debt = serializers.IntegerField(help_text="Reversed after being spent; future earning pays it first.")
    expiring_soon = serializers.IntegerField(help_text="Spendable points that expire within `expiring_within_days`.")
    expiring_within_days = serializers.IntegerField()
    next_expiry_at = serializers.DateTimeField(allow_null=True)


class PointsEntryOutSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="Ledger entry number (stable order; newest first).")
    kind = serializers.ChoiceField(choices=PointsEntry.Kind.choices)
    points = serializers.IntegerField()
    balance_after = serializers.IntegerField()
    reason = serializers.CharField()
    reference = serializers.CharField()
    created_at = serializers.DateTimeField()


class PointsEntryPageSerializer(serializers.Serializer):
    next = serializers.CharField(allow_null=True, help_text="URL of the next (older) page, or null.")
    previous = serializers.CharField(allow_null=True)
    results = PointsEntryOutSerializer(many=True)


class RedemptionOutSerializer(serializers.Serializer):
    reference = serializers.CharField()
    reward = serializers.CharField(source="reward.code")
    quantity = serializers.IntegerField()
    points = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    balance = serializers.IntegerField(source="member.points_balance")


class AdjustmentOutSerializer(serializers.Serializer):
    entry = PointsEntryOutSerializer()
    balance = serializers.IntegerField()
    pending = serializers.IntegerField()
    debt = serializers.IntegerField()


class TierOutSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    rank = serializers.IntegerField()
    basis = serializers.CharField()
    threshold = serializers.IntegerField(help_text="Fen or points (see basis) within window_days.")
    window_days = serializers.IntegerField()
    validity_days = serializers.IntegerField()
    points_multiplier_pct = serializers.IntegerField()
    member_day_multiplier_pct = serializers.IntegerField()
    birthday_bonus_points = serializers.IntegerField()


class TierListSerializer(serializers.Serializer):
    results = TierOutSerializer(many=True)


class RewardOutSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    points_cost = serializers.IntegerField()
    stock = serializers.IntegerField(allow_null=True, help_text="null = unlimited")


class RewardListSerializer(serializers.Serializer):
    results = RewardOutSerializer(many=True)
