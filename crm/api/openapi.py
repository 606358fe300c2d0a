"""OpenAPI (drf-spectacular) for the partner API: the Api-Key security scheme, the
Idempotency-Key header on POSTs, and the problem+json error responses on every operation.

The schema says what the server enforces, so that a generated client fails before the server
refuses: the Idempotency-Key's format (idempotency.py), `additionalProperties: false` on the
request bodies of StrictSerializers (which refuse unknown keys), and the bounds of bounded query
parameters (declared where the view declares the parameter)."""

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ResolvedComponent, force_instance, get_doc
from drf_spectacular.utils import OpenApiParameter

from crm.dependencies import BROKER, CACHE, DATABASE

from .idempotency import IDEMPOTENCY_KEY_MAX_LENGTH, IDEMPOTENCY_KEY_PATTERN
from .serializers import StrictSerializer

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details. `code` is stable; `detail` follows Accept-Language (zh-hans, en).",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "code": {"type": "string", "example": "invalid_input"},
        "detail": {"type": "string"},
        "fields": {
            "type": "object",
            "description": "Field (dotted path for nested fields) → messages.",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
        "dependency": {
            "type": "string",
            "enum": [DATABASE, CACHE, BROKER],
            "description": "With `service_unavailable` (503) only: the service that could not be reached.",
        },
    },
    "required": ["type", "title", "status", "code", "detail", "fields"],
}

ERROR_RESPONSES: dict[str, str] = {
    "400": (
        "Invalid input (`invalid_input` with `fields`, `malformed_body`, `json_too_deep`, `batch_too_large`, "
        "`idempotency_key_invalid`, ...) or a business rule refused the operation (its own `code`, e.g. "
        "`points_insufficient`)"
    ),
    "401": "Missing, invalid, revoked or expired API key",
    "403": "The API key lacks the scope of this operation (`scope_missing`)",
    "404": "Not found (or not yours)",
    "406": "Only JSON responses are available",
    "429": "Rate limit of the API key exceeded; see Retry-After",
    "503": "A service the API needs is unreachable (`service_unavailable`, see `dependency`); retry later",
}
WRITE_ERROR_RESPONSES: dict[str, str] = {
    "413": "Request body over the limit named in `detail` (1 MiB by default; 4 MiB for an order batch)",
    "415": "Request body is not application/json",
}
POST_ERROR_RESPONSES: dict[str, str] = {
    "409": (
        "A request with this Idempotency-Key is still running (`idempotency_in_progress`; retry later), or "
        "the operation conflicts with the current state (its own `code`, e.g. `refund_conflict`)"
    ),
    "422": "This Idempotency-Key was already used with a different request (`idempotency_key_reused`)",
}


class ProblemAutoSchema(AutoSchema):
    def get_override_parameters(self) -> list[Any]:
        parameters = list(super().get_override_parameters())
        if self.method == "POST":
            parameters.append(
                OpenApiParameter(
                    name="Idempotency-Key",
                    type={
                        "type": "string",
                        "minLength": 1,
                        "maxLength": IDEMPOTENCY_KEY_MAX_LENGTH,
                        "pattern": IDEMPOTENCY_KEY_PATTERN,
                    },
                    location=OpenApiParameter.HEADER,
                    required=False,
                    description=(
                        f"1 to {IDEMPOTENCY_KEY_MAX_LENGTH} visible ASCII characters (else 400 "
                        "`idempotency_key_invalid`). A retry with the same key and body returns the first "
                        "response (header `Idempotent-Replayed: true`) for at least 24 hours; if what it created "
                        "has been deleted since, 410 `idempotency_replay_gone` instead."
                    ),
                )
            )
        return parameters

    def _map_serializer(self, serializer: Any, direction: str, bypass_extensions: bool = False) -> Any:
        schema = super()._map_serializer(serializer, direction, bypass_extensions)
        # A StrictSerializer answers an unknown key with 400; say so to generated clients.
        if (
            direction == "request"
            and isinstance(force_instance(serializer), StrictSerializer)
            and "properties" in schema
        ):
            schema["additionalProperties"] = False
            # The base class's docstring is about the base class, not this body.
            if schema.get("description") == get_doc(StrictSerializer):
                del schema["description"]
        return schema

    def get_operation(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        self.registry.register_on_missing(
            ResolvedComponent(name="Problem", type=ResolvedComponent.SCHEMA, object="Problem", schema=PROBLEM_SCHEMA)
        )
        errors = dict(ERROR_RESPONSES)
        if self.method in {"POST", "PUT", "PATCH", "DELETE"}:
            errors.update(WRITE_ERROR_RESPONSES)
        if self.method == "POST":
            errors.update(POST_ERROR_RESPONSES)
        responses = operation.setdefault("responses", {})
        for status, description in errors.items():
            response: dict[str, Any] = {
                "description": description,
                "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
            }
            if status == "429":
                response["headers"] = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait"}}
            responses.setdefault(status, response)
        return operation


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "crm.api.authentication.ApiKeyAuthentication"
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Api-Key <prefix>.<secret>` — a key of this brand, created in the brand admin.",
        }


def only_partner_api(endpoints: list[tuple[Any, ...]], **kwargs: Any) -> list[tuple[Any, ...]]:
    """Preprocessing hook: the schema describes /api/v1/ only."""
    return [endpoint for endpoint in endpoints if endpoint[0].startswith("/api/v1/")]
