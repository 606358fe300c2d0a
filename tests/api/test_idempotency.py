"""Idempotency-Key on POST: replay byte for byte, 422 for a different request, 409 while the
first is running, per partner and brand; 50 concurrent requests with one key create one row."""

import json
import threading
import time
import uuid
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone
from django_tenants.utils import schema_context

from crm.api.models import ApiKey, IdempotencyRecord, Partner
from crm.api.services import idempotency_records_purge
from crm.db.locks import API_IDEMPOTENCY, advisory_key
from tests.conftest import brand_host, host_client
from webhooks.models import WebhookSubscription

from .conftest import assert_problem, call, make_key

WEBHOOKS = "/api/v1/webhooks"
GOOD = {"url": "https://partner.example/hooks", "events": ["member.enrolled"]}


def test_a_replay_returns_the_first_response_byte_for_byte(client_a, key_a):
    first = call(client_a, "POST", WEBHOOKS, key=key_a, body=GOOD, idempotency_key="order-1")
    replay = call(client_a, "POST", WEBHOOKS, key=key_a, body=GOOD, idempotency_key="order-1")

    assert first.status_code == replay.status_code == 201
    assert replay.content == first.content
    assert replay["Content-Type"] == first["Content-Type"]
    assert replay["Location"] == first["Location"]
    assert replay["Idempotent-Replayed"] == "true"
    assert not first.has_header("Idempotent-Replayed")
    with schema_context("alpha"):
        assert WebhookSubscription.objects.count() == 1


def test_the_same_key_with_another_body_is_422_and_changes_nothing(client_a, key_a):
    call(client_a, "POST", WEBHOOKS, key=key_a, body=GOOD, idempotency_key="k-1")

    response = call(
        client_a, "POST", WEBHOOKS, key=key_a, body={**GOOD, "events": ["points.changed"]}, idempotency_key="k-1"
    )

    assert_problem(response, 422, "idempotency_key_reused")
    with schema_context("alpha"):
        assert list(WebhookSubscription.objects.values_list("events", flat=True)) == [["member.enrolled"]]


def test_without_a_key_each_post_creates(client_a, key_a):
    call(client_a, "POST", WEBHOOKS, key=key_a, body=GOOD)
    call(client_a, "POST", WEBHOOKS, key=key_a, body=GOOD)

    with schema_context("alpha"):
        assert WebhookSubscription.objects.count() == 2


def test_a_failed_request_stores_nothing_so_a_corrected_retry_runs(client_a, key_a):
    bad = call(client_a, "POST", WEBHOOKS, key=key_a, body={"url": "x"}, idempotency_key="k-2")
    good = call(client_a, "POST", WEBHOOKS, key=key_a, body=GOOD, idempotency_key="k-2")

    assert bad.status_code == 400
    assert good.status_code == 201
    assert not good.has_header("Idempotent-Replayed")


@pytest.mark.parametrize("bad_key", ["", "with space", "x" * 256, "ключ"])
def test_malformed_idempotency_keys_are_400(client_a, key_a, bad_key):
    response = call(client_a, "POST", WEBHOOKS, key=key_a, body=GOOD, headers={"Idempotency-Key": bad_key})

    assert response.status_code == 400
    assert json.loads(response.content)["code"] == "idempotency_key_invalid"
    with schema_context("alpha"):
        assert not WebhookSubscription.objects.exists()


def test_keys_are_per_partner_and_per_brand(client_a, client_b, key_a, key_b, brand_a):
    other_partner = make_key("alpha", partner="POS")

    first = call(client_a, "POST", WEBHOOKS, key=key_a, body=GOOD, idempotency_key="shared")
    same_key_other_partner = call(client_a, "POST", WEBHOOKS, key=other_partner, body=GOOD, idempotency_key="shared")
    same_key_other_brand = call(client_b, "POST", WEBHOOKS, key=key_b, body=GOOD, idempotency_key="shared")

    for response in (first, same_key_other_partner, same_key_other_brand):
        assert response.status_code == 201
        assert not response.has_header("Idempotent-Replayed")
    assert len({first.content, same_key_other_partner.content, same_key_other_brand.content}) == 3


def test_a_rotated_key_of_the_same_partner_replays(client_a, key_a, brand_a):
    first = call(client_a, "POST", WEBHOOKS, key=key_a, body=GOOD, idempotency_key="rotate")
    replay = call(client_a, "POST", WEBHOOKS, key=make_key("alpha"), body=GOOD, idempotency_key="rotate")

    assert replay.content == first.content
    assert replay["Idempotent-Replayed"] == "true"


def test_records_older_than_the_retention_are_purged(in_brand_a, key_a, client_a):
    call(client_a, "POST", WEBHOOKS, key=key_a, body=GOOD, idempotency_key="old")
    call(client_a, "POST", WEBHOOKS, key=key_a, body=GOOD, idempotency_key="new")
    connection.set_tenant(in_brand_a)
    IdempotencyRecord.objects.filter(key="old").update(created_at=timezone.now() - timedelta(hours=25))
    IdempotencyRecord.objects.filter(key="new").update(created_at=timezone.now() - timedelta(hours=23))

    assert idempotency_records_purge() == 1
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]


# --- real concurrency: committed data, one connection per thread -----------------------------------
@pytest.fixture
def committed_key(committed_db):
    partner = f"并发-{uuid.uuid4().hex[:6]}"
    key = make_key("alpha", partner=partner)
    yield key
    with schema_context("alpha"):
        partner_row = Partner.objects.get(name=partner)
        IdempotencyRecord.objects.filter(partner=partner_row).delete()
        WebhookSubscription.objects.filter(partner=partner_row).delete()
        ApiKey.objects.filter(partner=partner_row).delete()
        partner_row.delete()


def test_fifty_concurrent_requests_with_one_key_create_exactly_one_subscription(committed_key, settings):
    settings.API_THROTTLE_RATE = "10000/min"
    threads_count = 50
    barrier = threading.Barrier(threads_count)
    responses: list[tuple[int, bool, bytes]] = []
    lock = threading.Lock()

    def post() -> None:
        try:
            client = host_client(brand_host("alpha"))
            barrier.wait(timeout=30)
            response = call(client, "POST", WEBHOOKS, key=committed_key, body=GOOD, idempotency_key="concurrent-1")
            with lock:
                responses.append(
                    (response.status_code, response.has_header("Idempotent-Replayed"), bytes(response.content))
                )
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    statuses = Counter(status for status, _, _ in responses)
    assert len(responses) == threads_count
    assert set(statuses) <= {201, 409}, statuses
    originals = [body for status, replayed, body in responses if status == 201 and not replayed]
    replays = [body for status, replayed, body in responses if status == 201 and replayed]
    assert len(originals) == 1
    assert all(body == originals[0] for body in replays)
    with schema_context("alpha"):
        assert WebhookSubscription.objects.filter(partner__api_keys__prefix=committed_key.split(".")[0]).count() == 1
    # After the storm, a retry is a replay of the one original.
    final = call(
        host_client(brand_host("alpha")), "POST", WEBHOOKS, key=committed_key, body=GOOD, idempotency_key="concurrent-1"
    )
    assert final.content == originals[0]
    assert final["Idempotent-Replayed"] == "true"


def test_a_replay_while_the_first_is_still_running_is_409(committed_key):
    """Another connection holds the key's claim (as a running first request does, inside its
    transaction); the retry is refused with 409, and succeeds once that transaction ends."""
    with schema_context("alpha"):
        partner_id = ApiKey.objects.get(prefix=committed_key.split(".")[0]).partner_id
        lock_name = advisory_key(API_IDEMPOTENCY, partner_id, "running")
    holding = threading.Event()
    release = threading.Event()

    def first_request_in_flight() -> None:
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [lock_name])
                holding.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    thread = threading.Thread(target=first_request_in_flight)
    thread.start()
    try:
        assert holding.wait(timeout=10)
        client = host_client(brand_host("alpha"))
        during = call(client, "POST", WEBHOOKS, key=committed_key, body=GOOD, idempotency_key="running", language="en")
        assert_problem(during, 409, "idempotency_in_progress")
    finally:
        release.set()
        thread.join(timeout=30)

    after = call(client, "POST", WEBHOOKS, key=committed_key, body=GOOD, idempotency_key="running")
    assert after.status_code == 201


@pytest.mark.worker
def test_the_hourly_cleanup_purges_old_records_in_every_brand(celery_worker, committed_key):
    from crm.api.tasks import idempotency_cleanup_all_brands

    old = timezone.now() - timedelta(hours=25)
    made: dict[str, list[int]] = {}
    for slug in ("alpha", "beta"):
        with schema_context(slug):
            partner, _ = Partner.objects.get_or_create(name="清理测试")
            made[slug] = [
                IdempotencyRecord.objects.create(
                    partner=partner,
                    key=key,
                    fingerprint="f",
                    status_code=201,
                    content_type="x",
                    body=b"",
                    created_at=at,
                ).pk
                for key, at in (("old", old), ("fresh", timezone.now()))
            ]
    try:
        idempotency_cleanup_all_brands.delay()

        def purged() -> bool:
            remaining = []
            for slug, pks in made.items():
                with schema_context(slug):
                    remaining += list(IdempotencyRecord.objects.filter(pk__in=pks).values_list("key", flat=True))
            return sorted(remaining) == ["fresh", "fresh"]

        deadline = timezone.now() + timedelta(seconds=30)
        while not purged():
            assert timezone.now() < deadline, "old records were not purged in both brands"
            time.sleep(0.2)
    finally:
        for slug in ("alpha", "beta"):
            with schema_context(slug):
                IdempotencyRecord.objects.filter(partner__name="清理测试").delete()
                Partner.objects.filter(name="清理测试").delete()
