"""Input serializers refuse what they do not know: an unknown key or a read-only field (tier,
balance, ...) in a request body is a 400 naming the field, never silently dropped — a partner
who sends `tier` believes it took effect."""

from functools import cached_property
from typing import Any

from rest_framework import serializers

from .error_codes import field_message


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
