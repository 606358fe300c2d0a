"""Issue 21, finding 1, as the attack: a partner's receiver that streams an endless answer or drips
it a byte at a time must neither grow the shared worker nor hold it past one attempt's deadline.
Real HTTP on 127.0.0.1 (EGRESS_ALLOW_PRIVATE_HOSTS is on in tests)."""

import contextlib
import socket
import threading
import time
import tracemalloc
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from crm import egress
from crm.api.models import Partner
from webhooks.models import WebhookDelivery
from webhooks.services import webhook_delivery_attempt, webhook_emit, webhook_subscription_create

Behaviour = Callable[[BaseHTTPRequestHandler], None]


class HostileReceiver:
    """A receiver on 127.0.0.1 whose answer is `behaviour`; counts the body bytes it got out."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.sent = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                # The client hanging up is what the test wants.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    behaviour(self)

            def log_message(self, *args: Any) -> None:
                pass

        Handler.receiver = receiver  # type: ignore[attr-defined]
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "HostileReceiver":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def one_delivery(url: str) -> WebhookDelivery:
    webhook_subscription_create(partner=Partner.objects.create(name="P"), url=url, events=["member.enrolled"])
    [sent] = webhook_emit(event="member.enrolled", payload={"member_no": "M1"})
    return sent


def attempt(delivery: WebhookDelivery) -> tuple[bool, float, int]:
    """(delivered, seconds, peak bytes allocated while attempting)."""
    tracemalloc.start()
    started = time.monotonic()
    try:
        outcome = webhook_delivery_attempt(delivery_id=delivery.pk)
        elapsed = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return outcome.delivered, elapsed, peak


def endless(handler: BaseHTTPRequestHandler, *, chunk: bytes = b"x" * 65536, limit: int = 2 * 1024**3) -> None:
    """200 with no Content-Length, then up to 2 GB (the probe's receiver)."""
    receiver: HostileReceiver = handler.receiver  # type: ignore[attr-defined]
    handler.send_response(200)
    handler.send_header("Connection", "close")
    handler.end_headers()
    while receiver.sent < limit:
        handler.wfile.write(chunk)
        receiver.sent += len(chunk)


def test_an_endless_answer_fails_the_attempt_at_the_size_cap(in_brand_a, settings, monkeypatch):
    settings.API_WEBHOOK_MAX_RESPONSE_BYTES = 64 * 1024
    read: list[int] = []
    real_read = egress._read

    def counting_read(response: Any, max_bytes: int, deadline: float) -> bytes:
        seen = 0
        real_iter = response.iter_raw

        def iter_raw() -> Any:
            nonlocal seen
            for chunk in real_iter():
                seen += len(chunk)
                read.append(seen)
                yield chunk

        response.iter_raw = iter_raw
        return real_read(response, max_bytes, deadline)

    with HostileReceiver(endless) as receiver:
        sent = one_delivery(receiver.url)
        monkeypatch.setattr(egress, "_read", counting_read)
        delivered, elapsed, peak = attempt(sent)

    row = WebhookDelivery.objects.get(pk=sent.pk)
    assert not delivered and row.status == WebhookDelivery.Status.PENDING  # failed, to be retried
    assert "EgressTooLarge" in row.last_error
    # What was read off the socket stops at the first chunk past the cap (one read is ≤ 64 KB).
    assert read[-1] <= 2 * settings.API_WEBHOOK_MAX_RESPONSE_BYTES
    assert receiver.sent < 64 * 1024**2  # it wanted to send 2 GB; socket buffers took the rest
    assert peak < 2 * 1024**2
    assert elapsed < 3


def test_an_answer_declaring_a_huge_length_is_refused_before_reading(in_brand_a, settings):
    def declared(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(2 * 1024**3))
        handler.end_headers()
        endless(handler, limit=16 * 1024**2)

    with HostileReceiver(declared) as receiver:
        sent = one_delivery(receiver.url)
        delivered, elapsed, peak = attempt(sent)

    assert not delivered
    assert "EgressTooLarge" in WebhookDelivery.objects.get(pk=sent.pk).last_error
    assert peak < 2 * 1024**2 and elapsed < 3


def drip(handler: BaseHTTPRequestHandler) -> None:
    """Headers at once, then one body byte every 0.5 s: each read is quick, the whole never ends."""
    handler.send_response(200)
    handler.send_header("Content-Length", "1000")
    handler.end_headers()
    for _ in range(1000):
        handler.wfile.write(b"x")
        handler.wfile.flush()
        time.sleep(0.5)


def drip_headers(handler: BaseHTTPRequestHandler) -> None:
    """The status line itself a byte every 0.3 s: the deadline must hold before any header."""
    for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n":
        handler.wfile.write(bytes([byte]))
        handler.wfile.flush()
        time.sleep(0.3)


@pytest.mark.parametrize("behaviour", [drip, drip_headers], ids=["body", "headers"])
def test_a_dripping_receiver_is_cut_off_at_the_total_deadline(in_brand_a, settings, behaviour):
    settings.API_WEBHOOK_DEADLINE_SECONDS = 1.0
    settings.API_WEBHOOK_TIMEOUT_SECONDS = 10.0  # per read: never trips on a drip

    with HostileReceiver(behaviour) as receiver:
        sent = one_delivery(receiver.url)
        delivered, elapsed, _ = attempt(sent)

    row = WebhookDelivery.objects.get(pk=sent.pk)
    assert not delivered and row.status == WebhookDelivery.Status.PENDING
    assert "EgressDeadline" in row.last_error
    assert 1.0 <= elapsed < 2.0


def test_a_receiver_that_never_answers_is_cut_off_at_the_deadline_not_the_read_timeout(in_brand_a, settings):
    settings.API_WEBHOOK_DEADLINE_SECONDS = 1.0
    settings.API_WEBHOOK_TIMEOUT_SECONDS = 10.0
    listener = socket.create_server(("127.0.0.1", 0))  # accepts (backlog), never reads nor answers
    try:
        sent = one_delivery(f"http://127.0.0.1:{listener.getsockname()[1]}/hooks")
        delivered, elapsed, _ = attempt(sent)
    finally:
        listener.close()

    assert not delivered
    assert "EgressDeadline" in WebhookDelivery.objects.get(pk=sent.pk).last_error
    assert elapsed < 2.0


def test_the_tasks_that_deliver_have_celery_time_limits():
    from webhooks.tasks import webhook_deliver, webhook_dispatch, webhook_redeliver

    for task in (webhook_deliver, webhook_dispatch, webhook_redeliver):
        assert 0 < task.soft_time_limit < task.time_limit, task.name


def test_a_batch_past_its_budget_hands_the_rest_to_another_task(in_brand_a, monkeypatch):
    """Slow receivers early in a batch of 500 must not run the batch into the hard time limit."""
    from webhooks import tasks

    handed_on: list[list[int]] = []
    attempted: list[int] = []
    clock = iter([0.0, 1.0, 200.0, 201.0])
    monkeypatch.setattr(tasks.time, "monotonic", lambda: next(clock))
    monkeypatch.setattr(tasks.webhook_redeliver, "delay", handed_on.append)
    monkeypatch.setattr(
        "webhooks.services.webhook_delivery_attempt",
        lambda *, delivery_id: attempted.append(delivery_id) or type("O", (), {"retry_in": None})(),
    )

    tasks._attempt_each([1, 2, 3, 4])

    assert attempted == [1]  # the first went out; by the second the budget was spent
    assert handed_on == [[2, 3, 4]]
