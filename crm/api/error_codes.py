"""Stable, machine-readable error codes of the partner API, with their human text in both
languages the API speaks. Partners branch on `code`; `title`/`detail` are for people and follow
the request's `Accept-Language` (zh-hans by default, en)."""

from typing import Any

from crm.dependencies import BROKER, CACHE, DATABASE
from crm.errors import ERROR_TEXTS, AppError, ErrorText, error_texts_register, localized

# Titles by HTTP status: a short summary of the problem type (RFC 9457 `title`).
TITLES: dict[int, ErrorText] = {
    400: ErrorText("请求有误", "Bad request"),
    401: ErrorText("未认证", "Unauthorized"),
    403: ErrorText("无权访问", "Forbidden"),
    404: ErrorText("未找到", "Not found"),
    405: ErrorText("不支持该方法", "Method not allowed"),
    406: ErrorText("无法提供所需格式", "Not acceptable"),
    409: ErrorText("冲突", "Conflict"),
    413: ErrorText("请求体过大", "Payload too large"),
    415: ErrorText("不支持的内容类型", "Unsupported media type"),
    422: ErrorText("无法处理的请求", "Unprocessable request"),
    429: ErrorText("请求过于频繁", "Too many requests"),
    500: ErrorText("服务器内部错误", "Internal server error"),
    503: ErrorText("服务暂时不可用", "Service unavailable"),
}

# code -> default detail; the other apps' codes are in their own error_codes modules, all in
# crm.errors.ERROR_TEXTS.
TEXTS: dict[str, ErrorText] = {
    "invalid_input": ErrorText("请求参数有误，请查看 fields。", "The request has invalid fields; see `fields`."),
    "malformed_body": ErrorText("请求体不是有效的 JSON。", "The request body is not valid JSON."),
    "unsupported_media_type": ErrorText(
        "请求体必须是 application/json。", "The request body must be application/json."
    ),
    "not_acceptable": ErrorText("只能返回 JSON。", "Only JSON responses are available."),
    # {limit} in bytes, {size} the same limit for people ("4 MiB").
    "body_too_large": ErrorText(
        "请求体超过上限 {limit} 字节（{size}）。", "The request body exceeds the limit of {limit} bytes ({size})."
    ),
    "json_too_deep": ErrorText(
        "请求体 JSON 嵌套超过 {limit} 层。", "The request body's JSON nests deeper than {limit} levels."
    ),
    "batch_too_large": ErrorText("一次最多提交 {limit} 条。", "At most {limit} items per request."),
    "not_authenticated": ErrorText(
        "缺少 API 密钥：请使用请求头 Authorization: Api-Key <key>。",
        "Missing API key: send the header Authorization: Api-Key <key>.",
    ),
    "api_key_invalid": ErrorText("API 密钥无效。", "The API key is not valid."),
    "api_key_revoked": ErrorText("API 密钥已被吊销。", "The API key has been revoked."),
    "api_key_expired": ErrorText("API 密钥已过期。", "The API key has expired."),
    "scope_missing": ErrorText("该 API 密钥没有权限范围 {scope}。", "The API key lacks the scope {scope}."),
    "permission_denied": ErrorText("无权执行此操作。", "You may not perform this action."),
    "not_found": ErrorText("资源不存在。", "The resource does not exist."),
    "method_not_allowed": ErrorText("不支持请求方法 {method}。", "The method {method} is not allowed here."),
    "throttled": ErrorText("请求过于频繁，请在 {wait} 秒后重试。", "Too many requests; retry after {wait} seconds."),
    "idempotency_key_invalid": ErrorText(
        "Idempotency-Key 必须是 1 到 255 个可见 ASCII 字符。",
        "Idempotency-Key must be 1 to 255 visible ASCII characters.",
    ),
    "idempotency_key_reused": ErrorText(
        "该 Idempotency-Key 已用于另一个请求（请求方法、路径或请求体不同）。",
        "This Idempotency-Key was already used for a different request (method, path or body differ).",
    ),
    "idempotency_replay_gone": ErrorText(
        "该 Idempotency-Key 创建的对象已被删除，不再返回其内容；如需重新创建，请使用新的 Idempotency-Key。",
        "The object this Idempotency-Key created has been deleted since, so it is not returned; use a new "
        "Idempotency-Key to create another.",
    ),
    "idempotency_in_progress": ErrorText(
        "使用该 Idempotency-Key 的请求仍在处理中，请稍后重试。",
        "A request with this Idempotency-Key is still being processed; retry later.",
    ),
    "webhook_event_unknown": ErrorText("未知的 Webhook 事件：{event}。", "Unknown webhook event: {event}."),
    "webhook_url_not_allowed": ErrorText(
        "回调地址必须是公网可访问的 http(s) 地址。", "The webhook URL must be a publicly reachable http(s) URL."
    ),
    "internal_error": ErrorText("服务器内部错误，已记录。", "Internal server error; it has been logged."),
    # {dependency} is one of DEPENDENCY_NAMES; the problem also names it in `dependency`.
    "service_unavailable": ErrorText(
        "服务暂时不可用：{dependency}无法连接，请稍后重试。",
        "The service is temporarily unavailable: {dependency} cannot be reached; retry later.",
    ),
    # The back office's key management (crm/api/services.py, permissions.py).
    "api_key_scopes_invalid": ErrorText("权限范围有误。", "The scopes are invalid."),
    "api_key_partner_invalid": ErrorText("合作方有误。", "The partner is invalid."),
    "api_key_expiry_invalid": ErrorText("过期时间有误。", "The expiry time is invalid."),
    "api_key_not_found": ErrorText("API 密钥不存在。", "The API key does not exist."),
    "scope_undeclared": ErrorText("该接口未声明所需的权限范围 {scope}。", "The endpoint declares no scope {scope}."),
}
error_texts_register(TEXTS)

# The services a request depends on (crm/dependencies.py), as `service_unavailable` names them.
DEPENDENCY_NAMES: dict[str, ErrorText] = {
    DATABASE: ErrorText("数据库", "the database"),
    CACHE: ErrorText("缓存", "the cache"),
    BROKER: ErrorText("消息队列", "the message broker"),
}


def error_detail(code: str, **params: object) -> str:
    """The registered detail for `code` in the active language, with `{params}` filled in."""
    return str(ERROR_TEXTS[code]).format(**params)


def readable_bytes(size: int) -> str:
    """A byte count for people: "4 MiB", "2.5 MiB", "64 KiB", "200 B"."""
    for unit, factor in (("MiB", 1024 * 1024), ("KiB", 1024)):
        if size >= factor:
            return f"{size / factor:.1f}".removesuffix(".0") + f" {unit}"
    return f"{size} B"


def body_too_large(limit: int) -> AppError:
    """The 413 of a request body over `limit` bytes."""
    return api_error("body_too_large", status=413, limit=limit, size=readable_bytes(limit))


def field_message(zh: str, en: str) -> str:
    """A field-level message in the active language (for messages DRF does not translate itself)."""
    return localized(zh, en)


def api_error(code: str, *, status: int, fields: dict[str, list[str]] | None = None, **params: Any) -> AppError:
    """An AppError whose message is the registered text of `code`, in the request's language."""
    return AppError(code, error_detail(code, **params), fields=fields, status=status, extra=params)
