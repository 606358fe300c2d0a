"""100 members claim one code at the same moment over 20 connections (5 members each; the shared
PostgreSQL's connection limit forbids 100): exactly one wins, 99 are told "already claimed", the
ledger stays clean. Commits, so it runs in a throw-away brand."""

import contextlib
import datetime as dt
import threading

from django.db import connections
from django.utils import timezone
from django_tenants.utils import schema_context

from crm.db import connection
from crm.errors import AppError
from members.models import PointsEntry
from members.services.points import ledger_audit, loyalty_program_get
from scancodes import error_codes, services
from scancodes.models import Claim, CodeBatch, Scan, ScanCampaign
from scancodes.services import code_claim
from tests.factories import MemberFactory
from tests.members.loyalty_scene import throwaway_brand

from .conftest import batch_activated, ctx, secret

race_brand = throwaway_brand


def _activated_batch(*, name: str, codes: int, risky_claims_per_hour: int) -> CodeBatch:
    """`codes` codes of one batch, activated, under a points campaign of today."""
    now = timezone.now()
    campaign = ScanCampaign.objects.create(
        name=name,
        points=8,
        starts_at=now - dt.timedelta(days=1),
        ends_at=now + dt.timedelta(days=1),
        risky_claims_per_hour=risky_claims_per_hour,
    )
    return batch_activated(campaign=campaign, quantity=codes, sku=f"SKU-{name}", product_name=f"{name}商品")


def test_100_concurrent_claims_of_one_code_have_exactly_one_winner(race_brand):
    with schema_context(race_brand.schema_name):
        batch = _activated_batch(name="抢码", codes=3, risky_claims_per_hour=1000)
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


def test_a_burst_from_one_ip_cannot_all_slip_under_the_risk_limit(race_brand, redis_cache, monkeypatch):
    """12 members claim 12 codes at once from one IP, the campaign holding for review past 3 claims
    an IP an hour: each claim is counted before it is decided, so exactly 3 are granted and 9 wait
    for review — however the claims interleave (the fast path read the count without adding to it
    before, and a burst could all read 0). On Redis, as in production: the database cache's
    counters are not atomic."""
    with schema_context(race_brand.schema_name):
        batch = _activated_batch(name="刷码", codes=12, risky_claims_per_hour=3)
        members = [MemberFactory.create() for _ in range(12)]
        loyalty_program_get()  # a brand with its loyalty rules: the claim's one-statement path applies
    work = list(zip(range(batch.first_serial, batch.first_serial + 12), members, strict=True))
    barrier = threading.Barrier(len(work))
    # The worst interleaving, made certain: every claim that got past the risk decision waits
    # there (the brand day is read right after it) until all twelve are there, or 3 s.
    past_the_decision = threading.Barrier(len(work), timeout=3)
    brand_date = services.brand_date

    def brand_date_after_everyone(now):
        # Broken when not all twelve came: the others were held for review before it.
        with contextlib.suppress(threading.BrokenBarrierError):
            past_the_decision.wait()
        return brand_date(now)

    monkeypatch.setattr(services, "brand_date", brand_date_after_everyone)
    orm_path = services._claim_in_transaction
    orm_claims: list[int] = []

    def counted_orm_path(**kwargs):
        orm_claims.append(kwargs["code"].serial)
        return orm_path(**kwargs)

    monkeypatch.setattr(services, "_claim_in_transaction", counted_orm_path)
    statuses: list[str] = []
    lock = threading.Lock()

    def claim(serial: int, member) -> None:
        try:
            connection.set_tenant(race_brand)
            barrier.wait()
            result = code_claim(serial=serial, secret=secret(batch, serial), member=member, ctx=ctx(ip="203.0.113.9"))
            with lock:
                statuses.append(result.claim.status)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=claim, args=item) for item in work]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)

    assert len(orm_claims) == 9, orm_claims  # the held ones; the three granted took the one statement
    assert sorted(statuses) == sorted([Claim.Status.GRANTED] * 3 + [Claim.Status.PENDING] * 9)
    with schema_context(race_brand.schema_name):
        assert PointsEntry.objects.filter(kind=PointsEntry.Kind.BONUS).count() == 3
        assert ledger_audit() == []
