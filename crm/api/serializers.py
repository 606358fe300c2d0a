"""Input serializers refuse what they do not know: an unknown key or a read-only field (tier,
balance, ...) in a request body is a 400 naming the field, never silently dropped — a partner
who sends `tier` believes it took effect."""

from functools import cached_property
from typing import Any

from rest_framework import serializers

from .error_codes import field_message
from .models import WebhookEvent, WebhookSubscription


class StrictSerializer(serializers.Serializer):
    """Base of every input serializer of the partner API (nest StrictSerializers to be strict at
    every level)."""

    @cached_property
    def _names(self) -> tuple[frozenset[str], frozenset[str]]:
        """(writable, read-only) field names."""
        return (
            frozenset(name for name, field in self.fields.items() if not field.read_only),
            frozenset(name for name, field in self.fields.items() if field.read_only),
        )

    def to_internal_value(self, data: Any) -> Any:
        errors: dict[str, list[str]] = {}
        if isinstance(data, dict):
            writable, read_only = self._names
            for key in data:
                if key in read_only:
                    errors[key] = [field_message("只读字段，不能提交。", "This field is read-only.")]
                elif key not in writable:
                    errors[key] = [field_message("未知字段。", "Unknown field.")]
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if errors and isinstance(exc.detail, dict):
                raise serializers.ValidationError({**exc.detail, **errors}) from exc
            raise
        if errors:
            raise serializers.ValidationError(errors)
        return value


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
