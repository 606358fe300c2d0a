"""The common claim in one statement (scancodes/claim_fast.py): the same rows and hook events as
the ORM path for the same scene, the statement count pinned, and every departure from the common
case handed to the ORM path with nothing written."""

import datetime as dt
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crm.api.models import Partner
from crm.errors import AppError
from crm.memos import memos_forget_all
from crm.redis_cache import cache_counters_get
from members.hooks import loyalty_changed, tags_changed
from members.models import Member, MemberTag, PointsEntry, PointsLot
from members.services.points import ledger_audit, points_award_bonus
from scancodes import claim_fast, error_codes, services
from scancodes.models import Claim, ClaimCounter, Code, CodeBatch, Scan, ScanCampaign
from scancodes.services import code_claim
from tests.api.conftest import call, make_key
from tests.autocommit import outside_a_transaction
from tests.factories import MemberFactory
from webhooks.models import WebhookDelivery, WebhookSubscription

from .conftest import HANGZHOU, ctx, secret

# The common case, in statements: the code with its batch, segment, campaign and dealer (one
# read), the one statement, and the webhooks handler's question whether anyone subscribed (in a
# partner API request it is remembered: there the claim is the member's read and these two).
# Raise it only with a reason: it is the claim's cost under load. Counted on production's cache,
# Redis (the `redis_cache` fixture): the newcomer's database cache answers in SQL of its own.
COMMON_CASE_STATEMENTS = 3


def _claim(batch: CodeBatch, serial: int, member: Member) -> Any:
    return code_claim(serial=serial, secret=secret(batch, serial), member=member, ctx=ctx(), count_scan=True)


def _rows(serial: int, member: Member) -> dict[str, Any]:
    """Everything a claim writes, without ids, serial and member (which differ between scenes)."""
    claim: dict[str, Any] = dict(Claim.objects.filter(code_id=serial).values().get())
    for name in ("id", "code_id", "member_id"):
        claim.pop(name)
    code = Code.objects.filter(serial=serial).values("claimed_at", "scan_count", "first_scanned_at", "first_city").get()
    reference = f"scan:{serial}"
    entries = [
        {**entry, "reference": entry["reference"].replace(reference, "scan:<serial>")}
        for entry in PointsEntry.objects.filter(member=member)
        .order_by("id")
        .values("kind", "points", "balance_after", "reason", "reference", "order_id", "actor", "created_at")
    ]
    lots = list(
        PointsLot.objects.filter(member=member)
        .order_by("id")
        .values("points", "remaining", "earned_at", "available_at", "expires_at", "expired", "pending")
    )
    balances = Member.objects.filter(pk=member.pk).values("points_balance", "points_pending", "points_debt").get()
    tags = sorted(MemberTag.objects.filter(member=member).values_list("tag__name", flat=True))
    scans = list(
        Scan.objects.filter(serial=serial)
        .order_by("id")
        .values("at", "biz_date", "outcome", "ip", "device", "province", "city", "precise_consent", "channel")
    )
    counters = sorted(ClaimCounter.objects.filter(member_id=member.pk).values_list("period", "starts", "claims"))
    return {
        "claim": claim,
        "code": code,
        "entries": entries,
        "lots": lots,
        "balances": balances,
        "tags": tags,
        "scans": scans,
        "counters": counters,
    }


class _Heard:
    """The hook events a claim told (loyalty changed, tags changed), member and tag ids left out."""

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    def loyalty(self, event: Any) -> None:
        self.events += [("loyalty", event.cause, c.points_before, c.points_after) for c in event.changes]

    def tags(self, event: Any) -> None:
        self.events.append(("tags", event.added, len(event.member_ids)))

    def __enter__(self) -> "_Heard":
        loyalty_changed.connect(self.loyalty)
        tags_changed.connect(self.tags)
        return self

    def __exit__(self, *exc: object) -> None:
        loyalty_changed.disconnect(self.loyalty)
        tags_changed.disconnect(self.tags)


def _scene(
    batch: CodeBatch, serial: int, *, at: dt.datetime, fast: bool, settings: Any
) -> tuple[dict[str, Any], list[Any]]:
    """A member with 7 points from an earlier bonus claims `serial` (the campaign with caps and a
    budget), fast or through the ORM path, at the same frozen instant."""
    settings.SCANCODES_CLAIM_FAST = fast
    member = MemberFactory.create()
    with time_machine.travel(timezone.now() - dt.timedelta(days=1), tick=False):
        points_award_bonus(member=member, points=7, reference="welcome", reason="欢迎", actor="system")
    with time_machine.travel(at, tick=False), _Heard() as heard:
        result = _claim(batch, serial, member)
    assert result.created and result.claim.status == Claim.Status.GRANTED
    rows = _rows(serial, member)
    rows["entries"][0]["created_at"] = None  # the earlier bonus: written at its own moment
    rows["lots"][0]["earned_at"] = rows["lots"][0]["available_at"] = rows["lots"][0]["expires_at"] = None
    return rows, heard.events


def test_the_fast_path_writes_the_rows_and_tells_the_hooks_the_orm_path_does(batch, campaign, settings):
    ScanCampaign.objects.filter(pk=campaign.pk).update(budget_points=1000)
    serial = batch.first_serial
    at = timezone.now() + dt.timedelta(hours=1)
    with CaptureQueriesContext(connection) as fast_queries:
        fast_rows, fast_heard = _scene(batch, serial, at=at, fast=True, settings=settings)
    slow_rows, slow_heard = _scene(batch, serial + 1, at=at, fast=False, settings=settings)

    assert any(claim_fast.FUNCTION_NAME in q["sql"] for q in fast_queries.captured_queries)
    assert fast_rows == slow_rows
    assert fast_heard == slow_heard
    assert [event[0] for event in fast_heard] == ["loyalty"] + ["tags"] * 4
    assert fast_rows["balances"]["points_balance"] == 7 + 15
    assert ScanCampaign.objects.get(pk=campaign.pk).spent_points == 30
    assert ledger_audit() == []


def test_the_common_claim_is_pinned_at_its_statement_count(batch, member, settings, redis_cache):
    """A member's second claim (tagged by the first: no tags-changed events, whose handlers ask
    their own questions — WeCom whether the brand has it configured, once per tag added)."""
    serial = batch.first_serial
    _claim(batch, serial, member)
    with CaptureQueriesContext(connection) as queries:
        _claim(batch, serial + 1, member)
    assert len(queries.captured_queries) == COMMON_CASE_STATEMENTS, [q["sql"][:80] for q in queries.captured_queries]

    settings.SCANCODES_CLAIM_FAST = False
    with CaptureQueriesContext(connection) as slow:
        _claim(batch, serial + 2, MemberFactory.create())
    assert len(slow.captured_queries) > 2 * COMMON_CASE_STATEMENTS


@pytest.mark.parametrize("departure", ["cap", "budget", "already", "erased"])
def test_a_departure_from_the_common_case_leaves_nothing_of_the_fast_path(batch, campaign, member, departure):
    """The function writes nothing when the code, cap, budget or member says no; the ORM path
    then refuses (or, for the same member again, returns their claim) as it always did."""
    serial = batch.first_serial
    other = MemberFactory.create()
    if departure == "cap":
        ScanCampaign.objects.filter(pk=campaign.pk).update(cap_member_day=1)
        _claim(batch, serial + 5, member)
    elif departure == "budget":
        ScanCampaign.objects.filter(pk=campaign.pk).update(budget_points=10)
    elif departure == "already":
        _claim(batch, serial, other)
    before = (PointsEntry.objects.count(), MemberTag.objects.count(), Claim.objects.count())
    with connection.cursor() as cursor:
        if departure == "erased":  # erased since the request read it: the locked row says so
            cursor.execute("UPDATE members_member SET status = 'erased' WHERE id = %s", [member.pk])
    with pytest.raises(AppError) as refused:
        _claim(batch, serial, member)
    expected = {
        "cap": error_codes.CAP_REACHED,
        "budget": error_codes.BUDGET_EXHAUSTED,
        "already": error_codes.ALREADY_CLAIMED,
        "erased": "member_not_eligible",
    }[departure]
    assert expected in refused.value.code
    assert (PointsEntry.objects.count(), MemberTag.objects.count(), Claim.objects.count()) == before
    code = Code.objects.get(serial=serial)
    assert code.claimed_member_id == (other.pk if departure == "already" else None)
    assert Scan.objects.filter(serial=serial, outcome=Scan.Outcome.CLAIMED).count() == (departure == "already")
    assert ledger_audit() == []


def test_a_partner_api_claim_is_the_member_and_codes_read_and_the_function(batch, client_a, brand_a, redis_cache):
    """Over the partner API the webhooks' and WeCom's questions are remembered under the brand's
    generation after the first request: a claim is three statements, whatever the tags."""
    key = make_key("alpha")
    members = [MemberFactory.create() for _ in range(2)]
    serial = batch.first_serial

    def body(offset: int, member: Member) -> dict[str, Any]:
        return {
            "serial": serial + offset,
            "secret": secret(batch, serial + offset),
            "member_no": member.member_no,
            "ip": HANGZHOU,
        }

    assert call(client_a, "POST", "/api/v1/scancodes/claims", key=key, body=body(0, members[0])).status_code == 201
    with CaptureQueriesContext(connection) as queries:
        response = call(client_a, "POST", "/api/v1/scancodes/claims", key=key, body=body(1, members[1]))
    assert response.status_code == 201, response.content
    sql = [q["sql"] for q in queries.captured_queries]
    claims = [s for s in sql if "members_member" in s or "scancodes_code" in s or claim_fast.FUNCTION_NAME in s]
    # Two since session 16: the member is read with the code (one statement), then the function.
    assert len(claims) == 2, sql
    assert "members_member" in claims[0] and "scancodes_code" in claims[0], claims
    assert not [s for s in sql if "wecom_wecomconfig" in s or "webhooksubscription" in s], sql


# --- no transaction of its own when nothing would write beside the statement (session 16) ---------


@pytest.mark.parametrize("listening", [False, True])
def test_the_claim_runs_without_begin_and_commit_unless_a_webhook_listens(batch, member, monkeypatch, listening):
    if listening:
        WebhookSubscription.objects.create(
            partner=Partner.objects.create(name="监听方"),
            url="https://hooks.example/p",
            events=["points.changed"],
            secret="s",
        )
    _claim(batch, batch.first_serial, member)  # the brand's loyalty programme row, made by the first
    with outside_a_transaction(monkeypatch, services) as opened:
        result = _claim(batch, batch.first_serial + 1, member)
    assert result.created and result.claim.points > 0
    assert opened == ([{"savepoint": False}] if listening else [])
    assert WebhookDelivery.objects.filter(event="points.changed").count() == 2 * listening
    assert ledger_audit() == []


def test_a_brand_whose_migration_has_not_created_the_function_claims_by_the_orm_path(batch, member):
    memos_forget_all()
    with connection.cursor() as cursor:  # rolled back with the test's transaction
        cursor.execute(f"DROP FUNCTION {claim_fast.FUNCTION_NAME}({', '.join(claim_fast.ARG_TYPES)})")
    with CaptureQueriesContext(connection) as queries:
        result = _claim(batch, batch.first_serial, member)
    assert result.created and result.claim.points > 0
    assert not [q for q in queries.captured_queries if claim_fast.FUNCTION_NAME + "(" in q["sql"]]
    assert Claim.objects.filter(code_id=batch.first_serial, member=member).exists()
    assert ledger_audit() == []


def test_an_unknown_member_is_told_before_the_code_is_looked_at(batch, client_a, redis_cache):
    key = make_key("alpha")
    body = {"serial": batch.first_serial, "secret": "wrong", "member_no": "NOSUCH1", "ip": HANGZHOU}
    response = call(client_a, "POST", "/api/v1/scancodes/claims", key=key, body=body)
    assert response.status_code == 404 and "member_not_found" in response.content.decode(), response.content
    assert not Scan.objects.filter(serial=batch.first_serial).exists()  # no scan logged, no failure counted


# --- the wrong-secret limit and the risk counts in one Redis step (session 17) --------------------


def _api_claim(client: Any, key: str, batch: CodeBatch, serial: int, member: Member, *, right: bool = True) -> Any:
    body = {
        "serial": serial,
        "secret": secret(batch, serial) if right else "A" * 20,
        "member_no": member.member_no,
        "ip": HANGZHOU,
    }
    return call(client, "POST", "/api/v1/scancodes/claims", key=key, body=body)


def _ip_claims_this_hour() -> int:
    ip_key = next(key for label, key in services._risk_keys(ctx()) if label == "IP")
    return cache_counters_get([ip_key])[0]


def _redis_commands(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    import redis.connection

    sent = [0]
    send = redis.connection.Connection.send_packed_command

    def counting(self: Any, *args: Any, **kwargs: Any) -> None:
        sent[0] += 1
        send(self, *args, **kwargs)

    monkeypatch.setattr(redis.connection.Connection, "send_packed_command", counting)
    return sent


def test_a_partner_api_claim_makes_two_redis_calls(batch, client_a, redis_cache, monkeypatch):
    """The key check with the rate count, then the wrong-secret limit checked and the IP's and
    device's claims counted in one script (they were two calls: the limit's read, the counts)."""
    key = make_key("alpha")
    members = [MemberFactory.create() for _ in range(2)]
    assert _api_claim(client_a, key, batch, batch.first_serial, members[0]).status_code == 201
    sent = _redis_commands(monkeypatch)
    response = _api_claim(client_a, key, batch, batch.first_serial + 1, members[1])
    assert response.status_code == 201, response.content
    assert sent[0] == 2
    assert _ip_claims_this_hour() == 2


def test_past_the_wrong_secret_limit_a_partner_api_claim_is_refused_and_not_counted(
    batch, client_a, redis_cache, settings
):
    settings.SCANCODES_FAILURES_PER_SERIAL = 3
    key = make_key("alpha")
    member = MemberFactory.create()
    serial = batch.first_serial
    for _ in range(3):
        response = _api_claim(client_a, key, batch, serial, member, right=False)
        assert response.status_code == 403 and error_codes.SECRET_INVALID in response.content.decode()
    response = _api_claim(client_a, key, batch, serial, member)
    assert response.status_code == 429 and error_codes.RATE_LIMITED in response.content.decode(), response.content
    assert response["Retry-After"] == "900"
    assert Code.objects.get(serial=serial).claimed_member_id is None
    assert Scan.objects.filter(serial=serial, outcome=Scan.Outcome.LIMITED).count() == 1
    assert Scan.objects.filter(serial=serial, outcome=Scan.Outcome.BAD_SECRET).count() == 3
    assert _ip_claims_this_hour() == 0
    # Another serial from the same IP is not limited (3 failures per IP are under its limit).
    assert _api_claim(client_a, key, batch, serial + 1, member).status_code == 201
