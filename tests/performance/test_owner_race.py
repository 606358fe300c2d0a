"""An order posted while the member's owner is being changed: the ingest waits for the member's row,
then reads the row the change committed — its newest owner change with it (members 0021) — and
credits the new owner. These tests commit, so they run in a throw-away brand."""

import threading
import time

from django.db import connection as django_connection
from django.db import transaction
from django.utils import timezone
from django_tenants.utils import schema_context

from members.models import MemberAssignment
from members.services.members import member_assign
from performance.selectors import order_credit_text
from tests.factories import StaffFactory, StoreFactory
from tests.members.loyalty_scene import member_with_unionid, program, throwaway_brand
from tests.members.test_ledger_concurrency import run_in_threads
from tests.members.test_orders import post
from tests.members.test_owner_changed_at import lock_waits

race_brand = throwaway_brand


def test_an_order_posted_during_an_owner_change_credits_the_new_owner(race_brand):
    with schema_context(race_brand.schema_name):
        program()
        zhang = StaffFactory(name="张三", store=StoreFactory(name="静安店"))
        li = StaffFactory(name="李四", store=zhang.store)
        member = member_with_unionid("u-race")
        member_assign(member=member, staff=zhang, reason=MemberAssignment.Reason.MANUAL, actor="店长")
    changed = threading.Event()
    waited: list[bool] = []
    posted: list[int] = []

    def change_owner() -> None:
        with transaction.atomic():
            member_assign(member=member, staff=li, reason=MemberAssignment.Reason.TRANSFER, actor="店长")
            changed.set()
            deadline = time.monotonic() + 30
            while not lock_waits() and time.monotonic() < deadline:  # until the order waits for the row
                time.sleep(0.02)
            waited.append(bool(lock_waits()))

    def order_meanwhile() -> None:
        assert changed.wait(timeout=30)
        posted.append(post("R1", 5_000, "u-race", paid_at=timezone.now()).order.pk)

    assert run_in_threads(race_brand, [change_owner, order_meanwhile]) == []

    assert waited == [True]  # the order did wait for the change to commit
    with schema_context(race_brand.schema_name):
        assert order_credit_text(order_id=posted[0]) == "专属导购 李四（下单时的专属导购）"
    django_connection.close()
