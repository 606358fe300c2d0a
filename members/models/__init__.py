"""The members app's data: stores and staff, members and their identities (OneID), tiers,
the points ledger, rewards, orders and the capture-rate aggregates.

One module per concern; everything is re-exported here so `from members.models import Member`
works and Django finds every model.
"""

from .imports import ImportJob, ImportJobRow
from .loyalty import LoyaltyProgram, Tier, TierChange
from .orders import CaptureRateDaily, Order, OrderLine, Refund, SalesChannel
from .people import Identity, IdentityKind, Member, MemberAssignment, MemberMerge, MemberTag, Tag
from .points import (
    PointsAdjustMemberDay,
    PointsAdjustRequest,
    PointsAdjustUserDay,
    PointsEntry,
    PointsLot,
    PointsLotConsumption,
)
from .rewards import Redemption, Reward
from .stores import Staff, Store

__all__ = [
    "CaptureRateDaily",
    "Identity",
    "IdentityKind",
    "ImportJob",
    "ImportJobRow",
    "LoyaltyProgram",
    "Member",
    "MemberAssignment",
    "MemberMerge",
    "MemberTag",
    "Order",
    "OrderLine",
    "PointsAdjustMemberDay",
    "PointsAdjustRequest",
    "PointsAdjustUserDay",
    "PointsEntry",
    "PointsLot",
    "PointsLotConsumption",
    "Redemption",
    "Refund",
    "Reward",
    "SalesChannel",
    "Staff",
    "Store",
    "Tag",
    "Tier",
    "TierChange",
]
