"""扫码报表 and 扫码风控 against brute force: random scans and claims over three days, two batches,
two dealers and eight cities (a seeded generator, fixed clocks), then every dimension of the
report and every fraud signal recomputed in Python from the rows themselves; the CSV and XLSX
files say the same as the page; brand B sees none of brand A's; a store role cannot open them."""

import csv
import datetime as dt
import io
import itertools
import random
from collections import defaultdict
from typing import Any

import pytest
import time_machine
from django_tenants.utils import schema_context
from openpyxl import load_workbook

from crm.errors import AppError
from crm.tenancy.zones import brand_date
from members.roles import STORE_MANAGER
from scancodes.models import Claim, CodeBatch, Dealer, Scan, ScanCampaign, Segment
from scancodes.selectors import DIMENSIONS, fraud_signals, report_totals, scan_report
from scancodes.services import batch_generate, claim_void, code_claim, code_verify, segment_create
from tests.clock import SHANGHAI
from tests.conftest import BRAND_A, BRAND_B, logged_in_client
from tests.factories import MemberFactory, StoreFactory
from tests.members.conftest import staff_user_create

from .conftest import ctx, secret

DAY1 = dt.datetime(2027, 3, 8, 9, 0, tzinfo=SHANGHAI)
IPS = ["192.0.2.10", "192.0.2.70", "192.0.2.140", "192.0.2.200", "198.51.100.10", "198.51.100.70", "10.0.0.1"]


@pytest.fixture
def scene(in_brand_a: Any, clean_cache: None) -> dict[str, Any]:
    rng = random.Random(28)
    with time_machine.travel(DAY1, tick=False):
        campaign = ScanCampaign.objects.create(
            name="报表活动",
            points=10,
            sku_points={"SKU-B": 7},
            starts_at=DAY1 - dt.timedelta(days=1),
            ends_at=DAY1 + dt.timedelta(days=30),
            risky_claims_per_hour=1000,
        )
        zj = Dealer.objects.create(code="ZJ", name="浙江经销商", region_name="浙江", region_areas=["浙江"])
        gd = Dealer.objects.create(code="GD", name="广东经销商", region_name="广东", region_areas=["广东"])
        batches = []
        for sku, dealer in (("SKU-A", zj), ("SKU-B", gd)):
            batch = batch_generate(sku=sku, product_name=f"商品{sku}", quantity=40, actor="admin")
            assert batch.first_serial is not None
            segment_create(
                batch=batch,
                first_serial=batch.first_serial,
                last_serial=batch.first_serial + 29,
                dealer=dealer,
                campaign=campaign,
                actor="admin",
                activate=True,
            )
            batches.append(batch)
    members = [MemberFactory.create() for _ in range(6)]
    serials = [(b, (b.first_serial or 0) + n) for b in batches for n in range(35)]  # 30 active, 5 not
    rng.shuffle(serials)
    for n, (batch, serial) in enumerate(serials[:60]):
        at = DAY1 + dt.timedelta(days=n % 3, minutes=7 * n)
        with time_machine.travel(at, tick=False):
            here = ctx(ip=rng.choice(IPS))
            try:
                code_verify(serial=serial, secret=secret(batch, serial), ctx=here)
                if rng.random() < 0.15:  # a newcomer who enrolled to claim (the page's enrol-and-claim)
                    newcomer = MemberFactory.create()
                    code_claim(serial=serial, secret=secret(batch, serial), member=newcomer, ctx=here, new_member=True)
                elif rng.random() < 0.8:
                    code_claim(serial=serial, secret=secret(batch, serial), member=rng.choice(members), ctx=here)
            except AppError:
                pass  # not active, already claimed, a refused enrolment: still logged as a scan
    for claim in Claim.objects.order_by("id")[:3]:
        claim_void(claim=claim, actor="风控", reason="测试作废")
    return {"start": DAY1.date(), "end": DAY1.date() + dt.timedelta(days=2), "batches": batches}


def _expected(by: str) -> dict[str, tuple[int, ...]]:
    segments = list(Segment.objects.select_related("dealer"))
    batch_of = {b.pk: b for b in CodeBatch.objects.all()}

    def segment_of(serial: int) -> Segment | None:
        return next((s for s in segments if s.first_serial <= serial <= s.last_serial), None)

    def batch_for(serial: int) -> CodeBatch | None:
        return next((b for b in batch_of.values() if (b.first_serial or 0) <= serial <= (b.last_serial or 0)), None)

    def key(serial: int, province: str, day: dt.date) -> str:
        batch, segment = batch_for(serial), segment_of(serial)
        value = {
            "sku": batch.sku if batch else "",
            "batch": batch.batch_no if batch else "",
            "region": province,
            "dealer": segment.dealer.name if segment and segment.dealer else "",
            "day": day.isoformat(),
        }[by]
        return value or "—"

    scans: dict[str, int] = defaultdict(int)
    for scan in Scan.objects.all():
        scans[key(scan.serial, scan.province, scan.biz_date)] += 1
    rows: dict[str, dict[str, Any]] = defaultdict(lambda: defaultdict(int) | {"members": set()})
    for claim in Claim.objects.exclude(status=Claim.Status.VOID):
        row = rows[key(claim.code_id, claim.province, claim.biz_date)]
        row["claims"] += 1
        row["members"].add(claim.member_id)
        row["new"] += claim.new_member
        row["div"] += claim.diverted
        if claim.status == Claim.Status.GRANTED:
            row["points"] += claim.points
    keys = set(scans) | set(rows)
    return {
        k: (
            scans.get(k, 0),
            rows[k]["claims"] if k in rows else 0,
            len(rows[k]["members"]) if k in rows else 0,
            rows[k]["new"] if k in rows else 0,
            rows[k]["points"] if k in rows else 0,
            rows[k]["div"] if k in rows else 0,
        )
        for k in keys
    }


@pytest.mark.parametrize("by", list(DIMENSIONS))
def test_every_dimension_equals_brute_force(scene, by):
    got = {
        row.key: (row.scans, row.claims, row.members, row.new_members, row.points, row.diverted)
        for row in scan_report(by=by, start=scene["start"], end=scene["end"])
    }
    expected = _expected(by)
    assert got == expected
    assert sum(v[0] for v in got.values()) == Scan.objects.count()
    assert sum(v[1] for v in got.values()) == Claim.objects.exclude(status="void").count() > 10


def test_the_period_totals_count_each_member_once(scene):
    totals = report_totals(start=scene["start"], end=scene["end"])
    live = Claim.objects.exclude(status="void")
    assert totals["members"] == len(set(live.values_list("member_id", flat=True)))
    assert totals["new_members"] == len(set(live.filter(new_member=True).values_list("member_id", flat=True))) > 0


def test_fraud_signals_equal_brute_force(scene):
    live = list(Claim.objects.exclude(status="void").order_by("member_id", "at"))
    many = defaultdict(int)
    per_batch = defaultdict(int)
    for claim in live:
        many[claim.member_id] += 1
        per_batch[(claim.member_id, claim.batch_id)] += 1
    travel = set()
    by_member: dict[int, list[Claim]] = defaultdict(list)
    for claim in live:
        if claim.province:
            by_member[claim.member_id].append(claim)
    for member_id, claims in by_member.items():
        for before, after in itertools.pairwise(claims):
            if before.province != after.province and after.at - before.at < dt.timedelta(hours=2):
                travel.add((member_id, before.province, after.province))

    signals = fraud_signals(start=scene["start"], end=scene["end"], many_codes=5, bulk_batch=4)

    assert {s.member_id for s in signals if s.kind == "many_codes"} == {m for m, n in many.items() if n >= 5}
    assert sorted(s.claims for s in signals if s.kind == "bulk_batch") == sorted(
        n for n in per_batch.values() if n >= 4
    )
    got_travel = {
        (s.member_id, *s.detail.split("，")[0].split(" → ")) for s in signals if s.kind == "impossible_travel"
    }
    assert got_travel == travel


def test_the_files_say_what_the_page_says_and_brand_b_sees_nothing(scene, admin_client_a):
    query = f"by=dealer&start={scene['start']}&end={scene['end']}"
    page = admin_client_a.get(f"/admin/scancodes/claim/reports/?{query}").content.decode()
    rows = scan_report(by="dealer", start=scene["start"], end=scene["end"])
    assert "浙江经销商" in page and "导出 Excel" in page
    text = admin_client_a.get(f"/admin/scancodes/claim/reports/?{query}&format=csv").content.decode("utf-8-sig")
    lines = list(csv.reader(io.StringIO(text)))
    assert lines[0][:3] == ["经销商", "扫码次数", "领取次数"]
    assert {line[0]: int(line[2]) for line in lines[1:]} == {row.key: row.claims for row in rows}
    xlsx = admin_client_a.get(f"/admin/scancodes/claim/reports/?{query}&format=xlsx")
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert [[str(c) for c in r] for r in sheet.iter_rows(values_only=True)] == lines
    fraud = admin_client_a.get(f"/admin/scancodes/claim/fraud/?start={scene['start']}&end={scene['end']}&format=csv")
    assert fraud.content.decode("utf-8-sig").startswith("类型,会员,说明,领取数")
    with schema_context(BRAND_B):
        assert scan_report(by="sku", start=scene["start"], end=scene["end"]) == []
    assert brand_date(DAY1) == scene["start"]


def test_a_store_role_cannot_open_the_report_or_the_fraud_view(scene):
    staff_user_create(store=StoreFactory.create(), role=STORE_MANAGER, username="manager@alpha.example")
    client = logged_in_client(BRAND_A, "manager@alpha.example")
    for path in ("/admin/scancodes/claim/reports/", "/admin/scancodes/claim/fraud/?format=csv"):
        assert client.get(path).status_code == 403, path
