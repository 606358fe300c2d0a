from rest_framework import serializers


class OrderCreditOutSerializer(serializers.Serializer):
    channel = serializers.CharField()
    order_no = serializers.CharField()
    credited = serializers.BooleanField(help_text="Whether a staff member got the credit of this order.")
    staff_id = serializers.IntegerField(allow_null=True)
    staff_name = serializers.CharField(allow_blank=True)
    basis = serializers.ChoiceField(
        choices=["", "serving", "exclusive", "touch"],
        help_text="The rule's basis that decided it: serving staff, exclusive staff at order time, last touch.",
    )
    explanation = serializers.CharField(help_text="Who got the credit and why, in Chinese (e.g. 专属导购 张三（…）).")
    credited_fen = serializers.IntegerField()
    refunded_fen = serializers.IntegerField(help_text="Credit taken back by refunds, pro rata.")
    rule_id = serializers.IntegerField(allow_null=True, help_text="The rule version in force when the order arrived.")
