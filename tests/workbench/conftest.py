"""The workbench scene: two stores of brand A (上海静安店 SH001, 杭州西湖店 HZ001), a store-staff and a
store-manager login at SH001, a store-staff login at HZ001, and members enrolled through the real
service with known names and mobiles."""

from collections.abc import Callable
from typing import Any

import pytest

from members.models import Member, Staff, Store
from members.roles import STORE_MANAGER, STORE_STAFF
from tests.conftest import logged_in_client
from tests.factories import StaffFactory, StoreFactory
from tests.members.conftest import agreement_version_a, enrol, staff_a, staff_user_create, store_a  # noqa: F401
from tests.members.loyalty_scene import program, tiers

STAFF_A = "staff@alpha.example"
MANAGER_A = "manager@alpha.example"
STAFF_B = "staff-hz@alpha.example"


@pytest.fixture
def store_b(in_brand_a: Any) -> Store:
    return StoreFactory.create(code="HZ001", name="杭州西湖店", city="杭州")


@pytest.fixture
def staff_b(store_b: Store) -> Staff:
    return StaffFactory.create(store=store_b, name="赵导购", wecom_userid="zhao")


@pytest.fixture
def scene(in_brand_a, store_a, store_b, staff_a, staff_b, enrol) -> dict[str, Any]:  # noqa: F811
    """Members at each store; logins at each store. Returns them by name."""
    program()
    tier_map = tiers()
    staff_user_create(store=store_a, role=STORE_STAFF, username=STAFF_A)
    staff_user_create(store=store_a, role=STORE_MANAGER, username=MANAGER_A)
    staff_user_create(store=store_b, role=STORE_STAFF, username=STAFF_B)
    lin = enrol(name="林小雨", mobile="13900001234", staff=staff_a)
    # Same last four digits, other store: store A must never find her by 手机尾号.
    zhou = enrol(name="周大海", mobile="13700001234", staff=staff_b)
    wu = enrol(name="吴晓", mobile="13600005678", staff=staff_a)
    return {"lin": lin, "zhou": zhou, "wu": wu, "tiers": tier_map, "store_a": store_a, "store_b": store_b}


@pytest.fixture
def staff_client(scene) -> Any:
    return logged_in_client("alpha", STAFF_A)


@pytest.fixture
def manager_client(scene) -> Any:
    return logged_in_client("alpha", MANAGER_A)


@pytest.fixture
def staff_b_client(scene) -> Any:
    return logged_in_client("alpha", STAFF_B)


def reload(member: Member) -> Member:
    return Member.objects.get(pk=member.pk)


Enrol = Callable[..., Member]
