"""100 members claim one code at the same moment over 20 connections (5 members each; the shared
PostgreSQL's connection limit forbids 100): exactly one wins, 99 are told "already claimed", the
ledger stays clean. Commits, so it runs in a throw-away brand."""

import datetime as dt
import threading

from django.db import connections
from django.utils import timezone
from django_tenants.utils import schema_context

from crm.db import connection
from crm.errors import AppError
from members.models import PointsEntry
from members.services.points import ledger_audit
from scancodes import error_codes
from scancodes.models import Claim, Scan, ScanCampaign
from scancodes.services import batch_generate, code_claim, segment_create
from tests.factories import MemberFactory
from tests.members.loyalty_scene import throwaway_brand

from .conftest import ctx, secret

race_brand = throwaway_brand


def test_100_concurrent_claims_of_one_code_have_exactly_one_winner(race_brand):
    with schema_context(race_brand.schema_name):
        now = timezone.now()
        campaign = ScanCampaign.objects.create(
            name="抢码",
            points=8,
            starts_at=now - dt.timedelta(days=1),
            ends_at=now + dt.timedelta(days=1),
            risky_claims_per_hour=1000,
        )
        batch = batch_generate(sku="SKU-R", product_name="抢码商品", quantity=3, actor="t")
        segment_create(
            batch=batch,
            first_serial=batch.first_serial,
            last_serial=batch.last_serial,
            campaign=campaign,
            actor="t",
            activate=True,
        )
        members = [MemberFactory.create() for _ in range(100)]
    serial = batch.first_serial
    code_secret = secret(batch, serial)
    connections_used = 20
    barrier = threading.Barrier(connections_used)
    outcomes: list[str] = []
    lock = threading.Lock()

    def claim(group) -> None:
        try:
            connection.set_tenant(race_brand)
            barrier.wait()
            for member in group:
                try:
                    code_claim(
                        serial=serial, secret=code_secret, member=member, ctx=ctx(ip=f"10.0.{member.pk % 250}.1")
                    )
                    result = "won"
                except AppError as exc:
                    result = exc.code
                with lock:
                    outcomes.append(result)
        finally:
            connections.close_all()

    groups = [members[n::connections_used] for n in range(connections_used)]
    threads = [threading.Thread(target=claim, args=(group,)) for group in groups]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)

    assert outcomes.count("won") == 1
    assert outcomes.count(error_codes.ALREADY_CLAIMED) == 99
    with schema_context(race_brand.schema_name):
        claim_row = Claim.objects.get()
        assert PointsEntry.objects.filter(kind=PointsEntry.Kind.BONUS).count() == 1
        assert PointsEntry.objects.get(kind=PointsEntry.Kind.BONUS).member_id == claim_row.member_id
        assert Scan.objects.filter(serial=serial, outcome=Scan.Outcome.ALREADY).count() == 99
        assert ledger_audit() == []
