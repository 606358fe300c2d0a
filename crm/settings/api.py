"""The partner API (crm/api and each app's apis.py) and the calls the portal makes outwards
(webhooks to partners, the WeCom API), which are bounded the same way (crm/egress.py)."""

import os

from .environment import env_bool

REST_FRAMEWORK = {
    # Only API keys authenticate partner calls; the base view (crm.api.views.BrandApiView) sets
    # them too, these defaults only make a view that forgets the base class closed, not open.
    "DEFAULT_AUTHENTICATION_CLASSES": ["crm.api.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "crm.api.openapi.ProblemAutoSchema",
    "EXCEPTION_HANDLER": "crm.api.exceptions.problem_exception_handler",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "会员运营平台 Partner API",
    "DESCRIPTION": (
        "Partner REST API of one brand, served on the brand's own host. Authenticate with "
        "`Authorization: Api-Key <key>`. Every POST accepts `Idempotency-Key`. Errors are "
        "`application/problem+json` with a stable `code`; `detail` follows `Accept-Language` (zh-hans, en)."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Choice sets shared by several fields get one stable component name each.
    "ENUM_NAME_OVERRIDES": {
        "PurposeEnum": "consent.models.Purpose",
        "IdentityKindEnum": "members.models.IdentityKind",
        "SalesChannelEnum": "members.models.SalesChannel",
        "PointsEntryKindEnum": "members.models.PointsEntry.Kind",
        "DataRequestKindEnum": "consent.models.DataRequest.Kind",
        "GenderEnum": "members.models.Member.Gender",
    },
    "APPEND_COMPONENTS": {},
    "PREPROCESSING_HOOKS": ["crm.api.openapi.only_partner_api"],
}
# Requests per API key per window, counted in the shared cache (keys are prefixed by the brand).
API_THROTTLE_RATE = os.environ.get("API_THROTTLE_RATE", "1200/min")
# Largest request body the API reads (bytes); larger bodies are refused with 413 before parsing.
# The order batch endpoint has its own, 4 MiB (members.apis.ORDERS_BATCH_BODY_BYTES); the API
# reads bodies within its limits past DATA_UPLOAD_MAX_MEMORY_SIZE (crm.api.views.read_large_body).
API_MAX_BODY_BYTES = int(os.environ.get("API_MAX_BODY_BYTES", str(1024 * 1024)))
# Idempotency-Key responses are kept at least this long (then removed by the cleanup task).
API_IDEMPOTENCY_RETENTION_HOURS = 24

# --- Outbound calls -------------------------------------------------------------------------------
# Webhooks: attempts before a delivery is given up, and the first retry delay (doubled each time).
API_WEBHOOK_MAX_ATTEMPTS = int(os.environ.get("API_WEBHOOK_MAX_ATTEMPTS", "8"))
API_WEBHOOK_RETRY_BASE_SECONDS = float(os.environ.get("API_WEBHOOK_RETRY_BASE_SECONDS", "30"))
API_WEBHOOK_TIMEOUT_SECONDS = 10.0  # per socket operation; the attempt as a whole is bounded below
# One delivery attempt, connect to last byte (a receiver dripping bytes must not hold the worker),
# and the most of its answer we read: only the status matters, a larger answer fails the attempt.
API_WEBHOOK_DEADLINE_SECONDS = float(os.environ.get("API_WEBHOOK_DEADLINE_SECONDS", "15"))
API_WEBHOOK_MAX_RESPONSE_BYTES = 64 * 1024
# A WeCom API call (crm.egress bounds it the same way); its answers are JSON, a page of customers
# at most a few hundred KB.
WECOM_API_DEADLINE_SECONDS = float(os.environ.get("WECOM_API_DEADLINE_SECONDS", "20"))
WECOM_API_MAX_RESPONSE_BYTES = 4 * 1024 * 1024
# Outbound calls (webhook URLs set by partners, the WeCom API address set by brand admins) to
# loopback, private, link-local or metadata addresses would let them reach our own network (SSRF);
# only development and tests allow them. The old name is still read from the environment.
EGRESS_ALLOW_PRIVATE_HOSTS = env_bool("EGRESS_ALLOW_PRIVATE_HOSTS", env_bool("API_WEBHOOK_ALLOW_PRIVATE_HOSTS", False))
