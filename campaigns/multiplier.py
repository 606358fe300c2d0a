"""The campaign points multiplier, plugged into earning (members.services.points registers
providers). An order earns a campaign's multiplier when it was paid within an occurrence's window
(the slot's local day in the brand's zone) by a non-hold-out recipient of that occurrence.
A member-day campaign also honours the member's tier member-day multiplier; the higher applies.

Orders paid in the window before the occurrence's snapshot (e.g. at 09:00 for a 10:00 member
day) are not multiplied: schedule a multiplier campaign at 00:00 to cover the whole day.
"""

import datetime as dt
from collections.abc import Sequence

from django.db.models import F, Max, Q
from django.db.models.functions import Greatest

from .models import Campaign, Recipient


def campaign_multipliers_for_orders(*, orders: Sequence[tuple[int, dt.datetime]]) -> list[int]:
    if not orders:
        return []
    member_ids = {member_id for member_id, _ in orders}
    earliest = min(paid_at for _, paid_at in orders)
    latest = max(paid_at for _, paid_at in orders)
    windows = (
        Recipient.objects.filter(
            member_id__in=member_ids,
            holdout=False,
            occurrence__window_start__lte=latest,
            occurrence__window_end__gt=earliest,
        )
        .filter(
            Q(occurrence__campaign__multiplier_pct__gt=100)
            | Q(occurrence__campaign__type=Campaign.Type.MEMBER_DAY, member__tier__member_day_multiplier_pct__gt=100)
        )
        .values("member_id", "occurrence__window_start", "occurrence__window_end")
        .annotate(
            pct=Max(
                Greatest(
                    F("occurrence__campaign__multiplier_pct"),
                    # Only member-day campaigns use the tier's member-day multiplier.
                    _tier_member_day_pct(),
                )
            )
        )
    )
    by_member: dict[int, list[tuple[dt.datetime, dt.datetime, int]]] = {}
    for row in windows:
        by_member.setdefault(row["member_id"], []).append(
            (row["occurrence__window_start"], row["occurrence__window_end"], row["pct"])
        )
    result = []
    for member_id, paid_at in orders:
        applicable = [pct for start, end, pct in by_member.get(member_id, []) if start <= paid_at < end]
        result.append(max(applicable, default=100))
    return result


def _tier_member_day_pct():  # type: ignore[no-untyped-def]
    from django.db.models import Case, IntegerField, Value, When
    from django.db.models.functions import Coalesce

    return Case(
        When(
            occurrence__campaign__type=Campaign.Type.MEMBER_DAY,
            then=Coalesce(F("member__tier__member_day_multiplier_pct"), Value(100)),
        ),
        default=Value(100),
        output_field=IntegerField(),
    )
