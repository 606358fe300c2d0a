"""Webhook subscription input (strict, like every partner API input) and output."""

from rest_framework import serializers

from crm.api.serializers import StrictSerializer

from .models import WebhookEvent, WebhookSubscription


class WebhookSubscriptionInSerializer(StrictSerializer):
    url = serializers.URLField(max_length=500)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=WebhookEvent.choices), min_length=1, max_length=len(WebhookEvent.values)
    )


class WebhookSubscriptionOutSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    events = serializers.ListField(child=serializers.ChoiceField(choices=WebhookEvent.choices))

    class Meta:
        model = WebhookSubscription
        fields = ["id", "url", "events", "created_at"]


class WebhookSubscriptionCreatedSerializer(WebhookSubscriptionOutSerializer):
    secret = serializers.CharField(help_text="HMAC-SHA256 signing secret; shown only in this response.")

    class Meta(WebhookSubscriptionOutSerializer.Meta):
        fields = [*WebhookSubscriptionOutSerializer.Meta.fields, "secret"]


class WebhookSubscriptionListSerializer(serializers.Serializer):
    results = WebhookSubscriptionOutSerializer(many=True)
