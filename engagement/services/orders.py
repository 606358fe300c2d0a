"""What engagement does when an ingest creates member orders: growth value for the spend, and the
first order of an invitee waiting for it (邀请有礼). One statement for both, whatever the batch:
the order API's budget is a fixed number of statements per order (tests/members/test_orders.py,
docs/hot-path.md), and each handler with its own round trip would add one to every order."""

from django.db import connection

from members.hooks import OrdersPosted

from .growth import growth_spend_ctes
from .referral import REFERRALS_WAITING_SQL, referral_first_orders, referral_on_first_orders


def engagement_on_orders_posted(event: OrdersPosted) -> None:
    """members.hooks handler, in the ingest's transaction (the buyers are locked by it)."""
    firsts = referral_first_orders(event)
    spend = growth_spend_ctes(event)
    ctes, params = (f"WITH {spend[0]} ", spend[1]) if spend else ("", [])
    params.append(list(firsts))
    with connection.cursor() as cursor:
        # The growth CTEs write whether or not the SELECT reads them (PostgreSQL runs every
        # data-modifying CTE to completion).
        cursor.execute(ctes + REFERRALS_WAITING_SQL, params)
        waiting = cursor.fetchall()
    referral_on_first_orders(firsts=firsts, waiting=waiting)
