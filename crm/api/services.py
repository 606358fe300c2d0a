"""Writes of the partner API plumbing: API keys and idempotency clean-up (webhooks are an app of
their own: webhooks/services.py). Keyword-only, each owns its transaction."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from crm.errors import AppError, NotFound

from .error_codes import api_error
from .keys import key_generate, key_split, secret_matches
from .models import ApiKey, IdempotencyRecord, Partner, Scope
from .remembered_keys import api_key_current, api_key_used
from .throttling import RateWindow

# last_used_at is informational; writing it on every request would turn each API call into a
# write on one hot row. Once a minute per key is enough to tell an admin a key is in use.
LAST_USED_RESOLUTION = timedelta(minutes=1)


# --- API keys ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CreatedApiKey:
    api_key: ApiKey
    # The only time the plaintext exists outside the partner's hands: show it once, never store it.
    plaintext: str


def api_key_scopes_validate(scopes: list[str]) -> list[str]:
    unknown = sorted(set(scopes) - set(Scope.values))
    if unknown or not scopes:
        message = f"未知的权限范围：{', '.join(unknown)}" if unknown else "至少需要一个权限范围。"
        raise AppError("api_key_scopes_invalid", message, fields={"scopes": [message]})
    # Stored in the order of Scope, without duplicates, so two equal keys look equal.
    return [scope for scope in Scope.values if scope in scopes]


def api_key_create(*, partner_name: str, scopes: list[str], expires_at: datetime | None = None) -> CreatedApiKey:
    """Create a key for `partner_name` (created if new) in the current brand's schema."""
    partner_name = partner_name.strip()
    if not partner_name or len(partner_name) > 100:
        message = "合作方名称不能为空，且不超过 100 个字符。"
        raise AppError("api_key_partner_invalid", message, fields={"partner": [message]})
    clean_scopes = api_key_scopes_validate(scopes)
    if expires_at is not None and expires_at <= timezone.now():
        message = "过期时间必须晚于现在。"
        raise AppError("api_key_expiry_invalid", message, fields={"expires_at": [message]})
    plaintext, prefix, hashed = key_generate()
    with transaction.atomic():
        partner, _ = Partner.objects.get_or_create(name=partner_name)
        api_key = ApiKey.objects.create(
            partner=partner, prefix=prefix, secret_hash=hashed, scopes=clean_scopes, expires_at=expires_at
        )
    return CreatedApiKey(api_key=api_key, plaintext=plaintext)


def api_key_revoke(*, api_key_id: int) -> ApiKey:
    """Revoke a key at once (the next request with it is refused). Revoking twice is harmless."""
    with transaction.atomic():
        api_key = ApiKey.objects.select_for_update().filter(pk=api_key_id).first()
        if api_key is None:
            raise NotFound("api_key_not_found", "API 密钥不存在。")
        if api_key.revoked_at is None:
            api_key.revoked_at = timezone.now()
            api_key.save(update_fields=["revoked_at", "updated_at"])
    return api_key


def api_key_verify(*, raw_key: str) -> ApiKey:
    """The active key of the current brand for `raw_key`, or AppError (401) saying why not.

    A key of another brand is simply not in this brand's schema, so it is `api_key_invalid`.
    """
    return api_key_verify_and_count(raw_key=raw_key)[0]


def api_key_verify_and_count(
    *, raw_key: str, rate: Callable[[str], RateWindow] | None = None
) -> tuple[ApiKey, tuple[str, int] | None]:
    """api_key_verify, and the request counted in the rate window `rate(prefix)` when that
    could be done in the same cache round trip as the key check: (counter, count), else None."""
    parts = key_split(raw_key)
    if parts is None:
        raise api_error("api_key_invalid", status=401)
    prefix, secret = parts
    api_key, counted = api_key_current(prefix, secret, _api_key_by_prefix, rate(prefix) if rate else None)
    if api_key is None or not secret_matches(secret, api_key.secret_hash):
        raise api_error("api_key_invalid", status=401)
    now = timezone.now()
    if api_key.is_revoked:
        raise api_error("api_key_revoked", status=401)
    if api_key.is_expired(now):
        raise api_error("api_key_expired", status=401)
    if api_key.last_used_at is None or api_key.last_used_at < now - LAST_USED_RESOLUTION:
        # A conditional UPDATE outside any transaction: concurrent requests write at most once.
        ApiKey.objects.filter(pk=api_key.pk).exclude(last_used_at__gte=now - LAST_USED_RESOLUTION).update(
            last_used_at=now
        )
        api_key.last_used_at = now
        api_key_used(api_key)
    return api_key, counted


# Every API request runs this lookup. Written as one SQL statement because the ORM's query building
# for select_related + ArrayField costs ~1 ms of CPU per call, several times the query itself
# (bench/api_key_verify.py). Table names resolve through the brand's search_path like the ORM's.
_API_KEY_FIELDS = [field.attname for field in ApiKey._meta.concrete_fields]  # model order, as from_db wants
# Identifiers come from model metadata; the prefix is a query parameter.
_API_KEY_BY_PREFIX = (
    f"SELECT {', '.join(f'k.{name}' for name in _API_KEY_FIELDS)}, p.name "  # noqa: S608
    f"FROM {ApiKey._meta.db_table} k JOIN {Partner._meta.db_table} p ON p.id = k.partner_id "
    "WHERE k.prefix = %s"
)


def _api_key_by_prefix(prefix: str) -> ApiKey | None:
    with connection.cursor() as cursor:
        cursor.execute(_API_KEY_BY_PREFIX, [prefix])
        row = cursor.fetchone()
    if row is None:
        return None
    api_key = ApiKey.from_db(connection.alias, _API_KEY_FIELDS, row[:-1])
    api_key.partner = Partner.from_db(connection.alias, ["id", "name"], [api_key.partner_id, row[-1]])
    return api_key


# --- Idempotency -----------------------------------------------------------------------------------
def idempotency_records_purge(*, older_than: datetime | None = None) -> int:
    """Delete stored idempotent responses older than the retention (24 h by default) in this brand."""
    cutoff = older_than or timezone.now() - timedelta(hours=settings.API_IDEMPOTENCY_RETENTION_HOURS)
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
