"""webhook_emit and delivery: rows in the caller's transaction, sent after commit by a real
celery worker to a real local HTTP receiver, signed, retried with backoff, logged."""

import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone
from django_tenants.utils import schema_context

from crm import egress
from crm.api.models import Partner
from crm.errors import AppError
from webhooks.models import WebhookDelivery, WebhookSubscription
from webhooks.services import webhook_delivery_attempt, webhook_emit, webhook_emit_select, webhook_subscription_create
from webhooks.signing import signature_verify


class Receiver:
    """A partner's webhook endpoint on 127.0.0.1: answers `statuses` in turn (then 200)."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.requests: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append({"headers": dict(self.headers), "body": body, "at": time.monotonic()})
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok" if status == 200 else b"boom")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "Receiver":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def wait_for(predicate: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def delivery(slug: str, pk: int) -> WebhookDelivery:
    with schema_context(slug):
        return WebhookDelivery.objects.get(pk=pk)


@pytest.fixture
def partner_name(committed_db) -> Iterator[str]:
    name = f"webhooks-{uuid.uuid4().hex[:6]}"
    yield name
    for slug in ("alpha", "beta"):
        with schema_context(slug):
            WebhookDelivery.objects.filter(subscription__partner__name=name).delete()
            WebhookSubscription.objects.filter(partner__name=name).delete()
            Partner.objects.filter(name=name).delete()


def subscribe(slug: str, partner_name: str, url: str, events: list[str]) -> WebhookSubscription:
    with schema_context(slug):
        partner, _ = Partner.objects.get_or_create(name=partner_name)
        return webhook_subscription_create(partner=partner, url=url, events=events).subscription


def emit(slug: str, event: str, payload: dict[str, Any]) -> list[WebhookDelivery]:
    with transaction.atomic(), schema_context(slug):
        return webhook_emit(event=event, payload=payload)


@pytest.mark.worker
def test_a_delivery_is_signed_retried_on_500_with_backoff_and_finally_delivered(
    celery_worker, partner_name, settings, retry_countdowns
):
    settings.API_WEBHOOK_RETRY_BASE_SECONDS = 0.5
    with Receiver(statuses=[500, 500]) as receiver:
        subscription = subscribe("alpha", partner_name, receiver.url, ["points.changed"])
        [sent] = emit("alpha", "points.changed", {"member_no": "M0001", "balance": 120})

        done = wait_for(lambda: (d := delivery("alpha", sent.pk)).status == WebhookDelivery.Status.SUCCEEDED and d)

    assert retry_countdowns == [0.5, 1.0]  # the base, then twice the base
    assert done.attempts == 3
    assert done.last_status_code == 200
    assert done.last_error == ""
    assert done.delivered_at is not None
    assert len(receiver.requests) == 3
    # And the worker really waited that long before each attempt.
    first_gap = receiver.requests[1]["at"] - receiver.requests[0]["at"]
    second_gap = receiver.requests[2]["at"] - receiver.requests[1]["at"]
    assert first_gap >= 0.45
    assert second_gap >= 0.95
    for request in receiver.requests:
        headers = request["headers"]
        assert signature_verify(secret=subscription.secret, header=headers["X-CRM-Signature"], body=request["body"])
        assert headers["X-CRM-Event"] == "points.changed"
        assert headers["X-CRM-Delivery"] == str(sent.event_id)
    body = json.loads(receiver.requests[-1]["body"])
    assert body["event"] == "points.changed"
    assert body["id"] == str(sent.event_id)
    assert body["data"] == {"member_no": "M0001", "balance": 120}
    # A tampered body or another secret does not verify.
    last = receiver.requests[-1]
    assert not signature_verify(secret=subscription.secret, header=last["headers"]["X-CRM-Signature"], body=b"{}")
    assert not signature_verify(secret="whsec_other", header=last["headers"]["X-CRM-Signature"], body=last["body"])


@pytest.mark.worker
def test_a_delivery_that_keeps_failing_is_given_up_and_logged(celery_worker, partner_name, settings):
    settings.API_WEBHOOK_RETRY_BASE_SECONDS = 0.2
    settings.API_WEBHOOK_MAX_ATTEMPTS = 3
    with Receiver(statuses=[500] * 10) as receiver:
        subscribe("beta", partner_name, receiver.url, ["consent.withdrawn"])
        [sent] = emit("beta", "consent.withdrawn", {"member_no": "B1", "purpose": "marketing_sms"})

        failed = wait_for(lambda: (d := delivery("beta", sent.pk)).status == WebhookDelivery.Status.FAILED and d)
        time.sleep(1.0)  # nothing more arrives after giving up

    assert failed.attempts == 3
    assert failed.last_status_code == 500
    assert "HTTP 500" in failed.last_error
    assert failed.next_retry_at is None
    assert len(receiver.requests) == 3


@pytest.mark.worker
def test_an_unreachable_receiver_is_an_attempt_with_an_error(celery_worker, partner_name, settings):
    settings.API_WEBHOOK_RETRY_BASE_SECONDS = 0.2
    settings.API_WEBHOOK_MAX_ATTEMPTS = 2
    with Receiver() as receiver:
        url = receiver.url
    # The server is closed: connections are refused.
    subscribe("alpha", partner_name, url, ["member.enrolled"])
    [sent] = emit("alpha", "member.enrolled", {"member_no": "M9"})

    failed = wait_for(lambda: (d := delivery("alpha", sent.pk)).status == WebhookDelivery.Status.FAILED and d)

    assert failed.attempts == 2
    assert failed.last_status_code is None
    assert "ConnectError" in failed.last_error


@pytest.mark.worker
def test_set_based_deliveries_are_sent_by_dispatch_tasks_and_a_failure_is_retried(
    celery_worker, partner_name, settings
):
    settings.API_WEBHOOK_RETRY_BASE_SECONDS = 0.2
    with Receiver(statuses=[500]) as receiver:
        subscribe("alpha", partner_name, receiver.url, ["points.changed"])
        subscribe("beta", partner_name, receiver.url, ["points.changed"])
        with transaction.atomic(), schema_context("alpha"):
            recorded = webhook_emit_select(
                event="points.changed",
                payloads_sql="SELECT jsonb_build_object('member_no', 'M' || n) FROM generate_series(1, 3) n",
                params=[],
            )

        def all_delivered() -> bool:
            with schema_context("alpha"):
                return not WebhookDelivery.objects.exclude(status=WebhookDelivery.Status.SUCCEEDED).exists()

        wait_for(all_delivered)

    assert recorded == 3
    with schema_context("alpha"):
        attempts = sorted(WebhookDelivery.objects.values_list("attempts", flat=True))
    assert attempts == [1, 1, 2]  # the one that got a 500 went on to a retry
    bodies = [json.loads(r["body"]) for r in receiver.requests]
    assert len(bodies) == 4 and len({b["id"] for b in bodies}) == 3
    assert {b["data"]["member_no"] for b in bodies} == {"M1", "M2", "M3"}
    with schema_context("beta"):
        assert not WebhookDelivery.objects.exists()


def test_retries_wait_30_seconds_doubling_and_the_eighth_failure_gives_up(in_brand_a, settings):
    settings.API_WEBHOOK_RETRY_BASE_SECONDS = 30
    settings.API_WEBHOOK_MAX_ATTEMPTS = 8
    with Receiver(statuses=[500] * 8) as receiver:
        _port, sent = subscribed_delivery(receiver, host="127.0.0.1")
        schedule = []
        for _ in range(8):
            outcome = webhook_delivery_attempt(delivery_id=sent.pk)
            row = WebhookDelivery.objects.get(pk=sent.pk)
            recorded = (row.next_retry_at - row.updated_at).total_seconds() if row.next_retry_at else None
            schedule.append((outcome.retry_in, recorded))

    assert schedule == [(30, 30), (60, 60), (120, 120), (240, 240), (480, 480), (960, 960), (1920, 1920), (None, None)]
    assert row.status == WebhookDelivery.Status.FAILED and row.attempts == 8 == len(receiver.requests)


def test_emit_creates_one_delivery_per_matching_live_subscription_and_sends_after_commit(
    in_brand_a, django_capture_on_commit_callbacks
):
    partner = Partner.objects.create(name="P")
    wanted = webhook_subscription_create(partner=partner, url="https://a.example/h", events=["member.tier_changed"])
    webhook_subscription_create(partner=partner, url="https://b.example/h", events=["points.changed"])
    deleted = webhook_subscription_create(partner=partner, url="https://c.example/h", events=["member.tier_changed"])
    WebhookSubscription.objects.filter(pk=deleted.subscription.pk).update(deleted_at="2026-01-01T00:00:00Z")

    with django_capture_on_commit_callbacks() as callbacks:
        deliveries = webhook_emit(event="member.tier_changed", payload={"member_no": "M1", "tier": "gold"})

    assert [d.subscription_id for d in deliveries] == [wanted.subscription.pk]
    assert len(callbacks) == 1  # enqueued on commit, not before
    assert WebhookDelivery.objects.get().status == WebhookDelivery.Status.PENDING


def test_emit_in_a_transaction_that_rolls_back_leaves_nothing(in_brand_a, django_capture_on_commit_callbacks):
    partner = Partner.objects.create(name="P")
    webhook_subscription_create(partner=partner, url="https://a.example/h", events=["points.changed"])

    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(RuntimeError), transaction.atomic():
        webhook_emit(event="points.changed", payload={"member_no": "M1"})
        raise RuntimeError("the caller's change failed")

    assert callbacks == []
    assert not WebhookDelivery.objects.exists()


@pytest.mark.parametrize(("event", "payload"), [("member.deleted", {}), ("points.changed", {"when": object()})])
def test_emit_refuses_unknown_events_and_unserialisable_payloads(in_brand_a, event, payload):
    with pytest.raises((AppError, TypeError)):
        webhook_emit(event=event, payload=payload)
    assert not WebhookDelivery.objects.exists()


@pytest.fixture
def rebinding_dns(monkeypatch):
    """partner.example resolves to the local receiver once, then to somewhere else (a partner's
    DNS rebinding us). Other names resolve normally."""
    asked: list[str] = []
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host != "partner.example":
            return real(host, port, *args, **kwargs)
        asked.append(host)
        return real("127.0.0.1" if len(asked) == 1 else "10.255.255.1", port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


def subscribed_delivery(receiver: Receiver, *, host: str) -> tuple[int, WebhookDelivery]:
    """A subscription to `receiver` under the name `host` (resolved by the test), and one delivery."""
    port = receiver.server.server_address[1]
    partner = Partner.objects.create(name="P")
    webhook_subscription_create(partner=partner, url=f"http://{host}:{port}/hooks", events=["member.enrolled"])
    [sent] = webhook_emit(event="member.enrolled", payload={"member_no": "M1"})
    return port, sent


def test_a_delivery_connects_to_the_address_it_checked(in_brand_a, rebinding_dns, settings, monkeypatch):
    """The check passes the first answer; a client resolving the name again would connect to the
    second one (unreachable here) and fail."""
    settings.API_WEBHOOK_TIMEOUT_SECONDS = 2
    with Receiver() as receiver:
        port, sent = subscribed_delivery(receiver, host="partner.example")
        settings.EGRESS_ALLOW_PRIVATE_HOSTS = False
        # Stand-in for a public address: the receiver must be local to this test.
        monkeypatch.setattr(egress, "address_public", lambda address: address == "127.0.0.1")

        outcome = webhook_delivery_attempt(delivery_id=sent.pk)

    assert outcome.delivered, WebhookDelivery.objects.get(pk=sent.pk).last_error
    assert rebinding_dns == ["partner.example"]  # one resolution: checked, then connected to as checked
    [request] = receiver.requests
    assert request["headers"]["Host"] == f"partner.example:{port}"


def test_a_delivery_to_a_name_now_resolving_into_our_network_is_refused(in_brand_a, rebinding_dns, settings):
    with Receiver() as receiver:
        _port, sent = subscribed_delivery(receiver, host="partner.example")
        settings.EGRESS_ALLOW_PRIVATE_HOSTS = False

        outcome = webhook_delivery_attempt(delivery_id=sent.pk)

    assert not outcome.delivered
    assert receiver.requests == []
    assert WebhookDelivery.objects.get(pk=sent.pk).last_status_code is None


def test_an_internationalised_host_is_sent_in_its_ascii_form(in_brand_a, monkeypatch):
    """Host and SNI go out IDNA-encoded (an HTTP header is ASCII); the name resolves as such."""
    real = socket.getaddrinfo
    monkeypatch.setattr(
        socket,
        "getaddrinfo",
        lambda host, port, *a, **k: real("127.0.0.1" if host == "xn--bcher-kva.example" else host, port, *a, **k),
    )
    with Receiver() as receiver:
        port, sent = subscribed_delivery(receiver, host="bücher.example")

        outcome = webhook_delivery_attempt(delivery_id=sent.pk)

    assert outcome.delivered, WebhookDelivery.objects.get(pk=sent.pk).last_error
    assert receiver.requests[0]["headers"]["Host"] == f"xn--bcher-kva.example:{port}"


def test_deliveries_whose_task_was_lost_are_found_and_sent_again(in_brand_a, settings):
    """Pending deliveries overdue by WEBHOOK_STALLED_AFTER — never attempted, or past their retry —
    are swept; fresh ones, ones waiting for a retry that is not yet due, and finished ones are not."""
    from webhooks.services import WEBHOOK_STALLED_AFTER, webhook_deliveries_stalled
    from webhooks.tasks import webhook_redeliver

    now = timezone.now()
    old = now - WEBHOOK_STALLED_AFTER - timedelta(minutes=1)
    with Receiver() as receiver:
        _port, lost = subscribed_delivery(receiver, host="127.0.0.1")
        [retry_lost] = webhook_emit(event="member.enrolled", payload={"member_no": "M2"})
        [retry_due_later] = webhook_emit(event="member.enrolled", payload={"member_no": "M3"})
        [fresh] = webhook_emit(event="member.enrolled", payload={"member_no": "M4"})
        [done] = webhook_emit(event="member.enrolled", payload={"member_no": "M5"})
        WebhookDelivery.objects.filter(pk__in=[lost.pk, retry_lost.pk, retry_due_later.pk, done.pk]).update(
            created_at=old
        )
        WebhookDelivery.objects.filter(pk=retry_lost.pk).update(attempts=1, next_retry_at=old)
        WebhookDelivery.objects.filter(pk=retry_due_later.pk).update(
            attempts=2, next_retry_at=now + timedelta(minutes=5)
        )
        WebhookDelivery.objects.filter(pk=done.pk).update(status=WebhookDelivery.Status.SUCCEEDED, attempts=1)

        stalled = webhook_deliveries_stalled(now=now)
        webhook_redeliver(stalled)  # what the sweep queues, run here in-process

    assert stalled == [lost.pk, retry_lost.pk]
    assert sorted(json.loads(r["body"])["data"]["member_no"] for r in receiver.requests) == ["M1", "M2"]
    assert set(WebhookDelivery.objects.filter(pk__in=stalled).values_list("status", flat=True)) == {
        WebhookDelivery.Status.SUCCEEDED
    }
    assert WebhookDelivery.objects.get(pk=fresh.pk).attempts == 0
    assert settings.CELERY_BEAT_SCHEDULE["api.webhook_sweep_all_brands"]["task"] == "api.webhook_sweep_all_brands"
