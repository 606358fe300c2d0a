"""Who must hear that consent stopped counting, without consent importing them.

Campaigns (and the partner API's "consent withdrawn" webhook) keep queues of things to send for a
purpose. When consent for that purpose stops counting — the member withdrew it (any channel), a
material new agreement version needs re-consent, or the member was erased — whatever is queued
must not be sent (PIPL art. 15: withdrawal takes effect at once). They register a handler:

    from consent.hooks import ConsentRevoked, on_withdraw

    @on_withdraw
    def cancel_queued_messages(event: ConsentRevoked) -> None:
        OutboxMessage.objects.filter(
            member_id__in=event.member_ids, purpose__in=event.purposes, status="queued"
        ).update(status="cancelled")

Handlers run INSIDE the transaction of the consent change (so the cancellation commits, or rolls
back, with the withdrawal: there is no moment where the withdrawal is committed and the message
still queued). They must therefore be quick, set-based and never call the network; enqueue
side effects with `crm.celery.send_on_commit`. `event.member_ids` is a lazy queryset of member
ids: use it as a subquery (`member_id__in=`), it may cover a million members after a new version.
An exception in a handler rolls the consent change back, so the caller sees the error and nothing
is half done. Senders must still ask `consent.selectors.members_contactable` at send time.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import QuerySet

from crm.hooks import Hook


@dataclass(frozen=True)
class ConsentRevoked:
    # Lazy queryset of member primary keys (values_list("member_id") or similar).
    member_ids: QuerySet
    purposes: tuple[str, ...]
    # "withdrawn", "reconsent_required" or "erased".
    reason: str


Handler = Callable[[ConsentRevoked], None]
consent_revoked: Hook[ConsentRevoked, None] = Hook("consent revoked")
on_withdraw = consent_revoked.connect
disconnect = consent_revoked.disconnect


def consent_revoked_notify_in_transaction(event: ConsentRevoked) -> None:
    """Run every handler now, inside the caller's transaction (see the module docstring)."""
    consent_revoked.tell(event)


# --- Erasure ------------------------------------------------------------------------------------
# Apps that keep personal information of their own about a member (WeCom contact names, API
# payload logs, ...) register a handler that scrubs it when the member is erased (PIPL art. 47).
# Same contract as on_withdraw: runs inside member_erase's transaction, set-based, no network.

EraseHandler = Callable[[int], None]
member_erased: Hook[int, None] = Hook("member erased")
on_erase = member_erased.connect
disconnect_erase = member_erased.disconnect


def erase_notify_in_transaction(member_id: int) -> None:
    member_erased.tell(member_id)


# --- the member's data copy: sections of apps above consent ---------------------------------------
# PIPL art. 45: the copy covers everything the brand holds about the member. Apps above consent
# (coupons, check-ins, referrals, scan-to-earn) register a section from their AppConfig.ready():
#
#     from consent.hooks import on_member_export
#
#     @on_member_export
#     def coupons_for_export(member_id: int) -> tuple[str, list[dict]]:
#         return "优惠券", [{"名称": ..., "状态": ..., "领取时间": <brand-local text>} ...]
#
# Each returns its Chinese heading and its rows (Chinese keys, brand-local times, yuan).

ExportSection = Callable[[int], tuple[str, list[dict]]]
member_export: Hook[int, tuple[str, list[dict]]] = Hook("member data copy sections")
on_member_export = member_export.connect


def member_export_sections(member_id: int) -> list[tuple[str, list[dict]]]:
    return member_export.tell(member_id)
