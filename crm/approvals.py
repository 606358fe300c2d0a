"""Held requests (审批): a row that waits `pending` until an approver decides it. Shared by the
coupon issue requests (发券审批, coupons.manual_issue) and the points adjustment requests (积分调整审批,
members.services.points_adjustments): the same decision protocol, the same columns (`status`,
`decided_by`, `decided_at`, `decision_reason`, `updated_at`). Each app keeps who may approve, its
error codes and what a decision does (the approval's issue or ledger entry, the stock a rejection
gives back)."""

import datetime as dt
from collections.abc import Callable
from typing import Any, TypeVar

from django.db import models, transaction

R = TypeVar("R", bound=models.Model)

PENDING = "pending"
REJECTED = "rejected"


def request_decide(model: type[models.Model], *, pk: int, status: str, actor: Any, now: dt.datetime, why: str) -> int:
    """pending → `status` in one conditional UPDATE: 1 if this call decided it, 0 if it was decided
    already (a double click, two approvers at once: the caller reads what it became)."""
    return model._default_manager.filter(pk=pk, status=PENDING).update(
        status=status, decided_by=actor, decided_at=now, decision_reason=(why or "").strip()[:255], updated_at=now
    )


def request_reject(
    model: type[R],
    *,
    pk: int,
    actor: Any,
    reason: str,
    now: dt.datetime,
    reason_missing: Callable[[], Exception],
    decided_otherwise: Callable[[R], Exception],
    on_rejected: Callable[[R], None] | None = None,
) -> R:
    """Refuse a held request with a reason (required: `reason_missing()` is raised without one).
    Safe to retry: rejecting again returns the request as it is; a request decided otherwise
    meanwhile raises `decided_otherwise(current)`. `on_rejected(current)` runs once, in the
    rejection's transaction, only for the call that rejected it."""
    reason = (reason or "").strip()
    if not reason:
        raise reason_missing()
    with transaction.atomic():
        decided = request_decide(model, pk=pk, status=REJECTED, actor=actor, now=now, why=reason)
        current = model._default_manager.get(pk=pk)
        if decided == 1:
            if on_rejected is not None:
                on_rejected(current)
        elif current.status != REJECTED:  # type: ignore[attr-defined]
            raise decided_otherwise(current)
    return current
