"""Partner API serializers of the consent app: strict inputs, explicit outputs."""

from typing import Any

from rest_framework import serializers

from crm.api.serializers import StrictSerializer
from members.models import Member
from members.serializers import GuardianInSerializer

from .models import DataRequest, Purpose


class AgreementVersionOutSerializer(serializers.Serializer):
    version_id = serializers.IntegerField(source="pk", help_text="What enrolment and consent calls reference.")
    agreement = serializers.CharField(source="agreement.code")
    kind = serializers.CharField(source="agreement.kind")
    title = serializers.CharField(source="agreement.title")
    version = serializers.IntegerField()
    purposes = serializers.ListField(child=serializers.ChoiceField(choices=Purpose.choices))
    text = serializers.CharField(help_text="The text the consumer must be shown before deciding.")
    recipient = serializers.CharField(help_text="Third-party sharing: who receives the data.")
    recipient_purpose = serializers.CharField()
    data_categories = serializers.ListField(child=serializers.CharField())
    effective_at = serializers.DateTimeField()


class AgreementListSerializer(serializers.Serializer):
    results = AgreementVersionOutSerializer(many=True)


class ConsentChangeInSerializer(StrictSerializer):
    purpose = serializers.ChoiceField(choices=Purpose.choices)
    granted = serializers.BooleanField(help_text="true = grant, false = withdraw.")
    version_id = serializers.IntegerField(
        min_value=1,
        max_value=2**31 - 1,
        required=False,
        help_text="Grant: the version the consumer was shown (refused if it is no longer current).",
    )
    partner_reference = serializers.CharField(
        max_length=128,
        required=False,
        default="",
        help_text="Required to grant: your reference to the consent the BRAND obtained. Not needed to withdraw.",
    )
    ip = serializers.IPAddressField(required=False, default="")
    user_agent = serializers.CharField(max_length=300, required=False, default="")
    guardian = GuardianInSerializer(required=False)


class PurposeStateOutSerializer(serializers.Serializer):
    purpose = serializers.CharField()
    granted = serializers.BooleanField()
    needs_reconsent = serializers.BooleanField()
    effective = serializers.BooleanField(help_text="granted and not awaiting re-consent")
    version_id = serializers.IntegerField(allow_null=True, help_text="null: never decided")
    recorded_at = serializers.DateTimeField(allow_null=True)
    channel = serializers.CharField(allow_null=True)


class ConsentRecordOutSerializer(serializers.Serializer):
    purpose = serializers.CharField()
    granted = serializers.BooleanField()
    version_id = serializers.IntegerField()
    recorded_at = serializers.DateTimeField()
    channel = serializers.CharField()


class ConsentHistoryOutSerializer(serializers.Serializer):
    member_no = serializers.CharField()
    current = PurposeStateOutSerializer(many=True)
    history = ConsentRecordOutSerializer(many=True, help_text="Every decision, oldest first.")


class ConsentHistoryQuerySerializer(StrictSerializer):
    at = serializers.DateTimeField(required=False, help_text="State as of this time (default now).")


class CorrectionInSerializer(StrictSerializer):
    name = serializers.CharField(max_length=50, required=False)
    gender = serializers.ChoiceField(choices=Member.Gender.choices, required=False)
    birthday = serializers.DateField(required=False)


class DataRequestInSerializer(StrictSerializer):
    member_no = serializers.CharField(max_length=20)
    kind = serializers.ChoiceField(choices=DataRequest.Kind.choices)
    note = serializers.CharField(max_length=1000, required=False, default="", allow_blank=True)
    requested_changes = CorrectionInSerializer(required=False, help_text="Correction only.")
    status = serializers.CharField(read_only=True)
    due_at = serializers.DateTimeField(read_only=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("requested_changes") and attrs["kind"] != DataRequest.Kind.CORRECTION:
            raise serializers.ValidationError({"requested_changes": ["Only for kind=correction."]})
        return attrs


class DataRequestOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    member_no = serializers.CharField(source="member.member_no")
    kind = serializers.CharField()
    status = serializers.CharField()
    channel = serializers.CharField()
    requested_changes = serializers.DictField()
    due_at = serializers.DateTimeField()
    created_at = serializers.DateTimeField()
    closed_at = serializers.DateTimeField(allow_null=True)
    refusal_reason = serializers.CharField(help_text="Why it was refused (PIPL art. 50).")
