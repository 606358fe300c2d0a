"""Benchmark: the partner API's hot endpoints and the member card page, all five in one run
(issues 25, 26, 27, 28), each against its floors measured in the same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<db> CACHE_URL=redis://127.0.0.1:6379/<n> \
        .venv/bin/python bench/hot_paths.py [--members 1000000] [--codes 10000000] \
        [--in-process 300] [--seconds 8] [--workers 4] [--threads 8] [--server granian|gunicorn] \
        [--server-python PATH] [--serial-offset N] [--no-http]

The lead's run: `--in-process 0 --workers 3 --seconds 10` (bench/README.md).

Data (generated once by the existing generators, reused by every later run; a run only adds the
few coupons, check-in members and live member codes it uses up):
- `benchmc` — `--members` members (bench/member_centre.py's set-based generator): member-code
  resolve and the card page GET /m/;
- `benchcoupons` — 50,000 members (bench/coupons_issue_redeem.py), a pool template with fresh
  coupons per run: coupon validate and redeem;
- `benchcheckin` — fresh members per run (bench/engagement_checkin_http.py): first check-ins;
- `benchscanhttp` — `--codes` scan codes in one batch, one activated segment and campaign, 20,000
  members (bench/scancodes_http.py): claims, each a fresh code by a member who has none.

Phase 1, in-process (bench/inprocess.py: the WSGI application called directly, no HTTP, no load
generator): per request, the Python CPU, the PostgreSQL backend's CPU (/proc), the statements
sent, for GET /healthz (floor), GET /api/v1/tiers (floor: a trivial authenticated call) and each
hot endpoint. These are the machine-independent figures: 2 cores / CPU per request bounds what
two idle cores serve.

Phase 2, over HTTP (bench/http_harness.py): the Procfile's server (granian; `--server gunicorn`
for the previous one) with `--workers` workers, `--threads` client threads; saturation of each
(rate, p50, p99, CPU per request of the server and PostgreSQL),
then each target's steady open-loop rate (resolve 200/s, redeem 150/s, check-in 300/s, claim
200/s). On a shared machine the rates are the scheduler's; the CPU per request is the figure.
"""

import argparse
import os
import random
import shutil
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings.dev")
os.environ["DEBUG"] = "false"  # before django.setup(): DEBUG records every query
os.environ["API_THROTTLE_RATE"] = "1000000/min"  # counted as always, never refused (as start_server)

import django  # noqa: E402

django.setup()

from django.db import DatabaseError, connection  # noqa: E402
from django_tenants.utils import schema_context  # noqa: E402

from bench import coupons_http, engagement_checkin_http, member_centre, scancodes_http  # noqa: E402
from bench.http_harness import (  # noqa: E402
    Client,
    free_port,
    pids_of,
    saturate,
    saturate_wrk,
    start_server,
    steady,
    stop,
)
from bench.inprocess import Cost, Wsgi, measure  # noqa: E402
from crm.api.services import api_key_create  # noqa: E402
from crm.memos import memos_forget_all  # noqa: E402
from membercentre.services.links import member_centre_link_path  # noqa: E402
from members.models import Member  # noqa: E402

RUN = uuid.uuid4().hex[:6]


class Endpoint:
    """One hot endpoint: its host, API key and a `body()` → (method, path, body) of a fresh request."""

    def __init__(
        self,
        label: str,
        host: str,
        key: str,
        make: Callable[[], tuple[str, str, Any]],
        prepare: Callable[[], None] | None = None,
    ) -> None:
        self.label, self.host, self.key, self.make = label, host, key, make
        self.prepare = prepare or (lambda: None)  # before each phase (member codes live 60 s)

    def wsgi(self) -> Callable[[], int]:
        client = Wsgi(self.host, {"Authorization": f"Api-Key {self.key}"})
        return lambda: client.request(*self.make())[0]

    def http(self, port: int) -> Callable[[], int]:
        client = Client(port, self.key, self.host)
        return lambda: client.request(*self.make())


class Sequence:
    def __init__(self, items: list[Any]) -> None:
        self.items, self.n, self.lock = items, 0, threading.Lock()

    def take(self) -> Any:
        with self.lock:
            if self.n >= len(self.items):
                raise SystemExit("out of fresh items for the run: raise the counts")
            self.n += 1
            return self.items[self.n - 1]


def setup(args: argparse.Namespace) -> dict[str, Endpoint]:
    need = args.in_process + 40 + (0 if not args.http else int(args.seconds * 2000))
    need += int(args.seconds * WRK_LINES_PER_SECOND) if args.http and args.wrk else 0

    started = time.monotonic()
    mc_key = member_centre.setup(args.members)
    connection.close()
    codes: list[str] = []

    def fresh_codes() -> None:
        codes[:] = member_centre.issue_codes(5_000)

    endpoints = {
        "resolve": Endpoint(
            "member code resolve",
            member_centre.HOST,
            mc_key,
            lambda: ("POST", "/api/v1/member-codes/resolve", {"code": random.choice(codes)}),
            fresh_codes,
        )
    }

    coupon_key, coupon_codes = coupons_http.setup(50_000, 2 * need)
    with schema_context(coupons_http.SLUG):
        coupon_key = api_key_create(
            partner_name=f"bench-hot-{RUN}", scopes=["coupons:read", "coupons:write"], expires_at=None
        ).plaintext
    validate_codes = coupon_codes[: need // 2]
    redeems = coupons_http.Redeems(coupons_http.Codes(coupon_codes[need // 2 :]))  # each a fresh coupon

    def validate() -> tuple[str, str, Any]:
        body = {"code": random.choice(validate_codes), "channel": "pos", "order_no": "V", "order_amount_fen": 10_000}
        return "POST", "/api/v1/coupons/validate", body

    def redeem() -> tuple[str, str, Any]:
        return "POST", "/api/v1/coupons/redemptions", redeems.next()

    endpoints["validate"] = Endpoint("coupon validate", coupons_http.HOST, coupon_key, validate)
    endpoints["redeem"] = Endpoint("coupon redeem", coupons_http.HOST, coupon_key, redeem)

    checkin_key = engagement_checkin_http.setup(need)
    numbers = Sequence([f"C{engagement_checkin_http.RUN}{n:07d}" for n in range(need)])
    endpoints["checkin"] = Endpoint(
        "check-in",
        engagement_checkin_http.HOST,
        checkin_key,
        lambda: ("POST", f"/api/v1/members/{numbers.take()}/checkins", {}),
    )

    scan_key, batch, batch_key = scancodes_http.setup(args.codes, 20_000, fresh=need)
    work = scancodes_http.Work(batch, batch_key)
    work.next_serial += args.serial_offset
    if args.serial_offset:  # another run at the same time: the other end of the unused members
        work.members.reverse()
    endpoints["claim"] = Endpoint(
        "scan-code claim",
        scancodes_http.HOST,
        scan_key,
        lambda: ("POST", "/api/v1/scancodes/claims", work.claim_body()),
    )
    connection.close()
    # The setup's bulk writes (fresh members, coupons, codes) flushed now, so that a checkpoint they
    # bring on does not land in a phase: a check-in waits for its commit's flush, and one run's
    # check-in phase read a quarter slower, likeliest so (bench/README.md, session 18).
    try:
        with connection.cursor() as cursor:
            cursor.execute("CHECKPOINT")  # a superuser's or pg_checkpoint's right
    except DatabaseError as error:
        print(f"setup: no CHECKPOINT ({error}); a checkpoint may land in a phase", flush=True)
    connection.close()
    print(f"setup: {time.monotonic() - started:.0f} s (checkpoint included)", flush=True)
    return endpoints


def card_page(count: int) -> Callable[[], int]:
    with schema_context(member_centre.SLUG):
        member_id = Member.objects.order_by("-id").values_list("pk", flat=True)[count % 1000]
        link = member_centre_link_path(member_id=member_id)
    client = Wsgi(member_centre.HOST)
    status, _ = client.request("GET", link)
    assert status == 302, status
    return lambda: client.request("GET", "/m/")[0]


def in_process(endpoints: dict[str, Endpoint], count: int) -> dict[str, Cost]:
    print(f"in-process, {count} requests each (load average {os.getloadavg()[0]:.2f}):", flush=True)
    host = endpoints["resolve"].host
    floor_client = Wsgi(host)
    costs = {"healthz": measure("GET /healthz (floor)", lambda: floor_client.request("GET", "/healthz")[0], count)}
    print(costs["healthz"].line(), flush=True)
    key_client = Wsgi(host, {"Authorization": f"Api-Key {endpoints['resolve'].key}"})
    costs["tiers"] = measure(
        "GET /api/v1/tiers (auth floor)", lambda: key_client.request("GET", "/api/v1/tiers")[0], count
    )
    print(costs["tiers"].line(costs["healthz"]), flush=True)
    for name, endpoint in endpoints.items():
        memos_forget_all()
        endpoint.prepare()
        costs[name] = measure(endpoint.label, endpoint.wsgi(), count)
        print(costs[name].line(costs["tiers"], costs["healthz"]), flush=True)
    costs["card"] = measure("member card page GET /m/", card_page(count), count)
    print(costs["card"].line(costs["tiers"], costs["healthz"]), flush=True)
    print("against the targets (CPU of the web process + its PostgreSQL backend; 2 idle cores):")
    for name, target in TARGET_RATES.items():
        implied = 2000 / costs[name].cpu_ms
        print(
            f"  {endpoints[name].label:<34} ≤ {implied:5.0f}/s implied, target ≥ {target}/s: "
            f"{'met' if implied >= target else 'not met'}"
        )
    card = costs["card"].wall_ms
    print(
        f"  {'member card page GET /m/':<34} {card:5.1f} ms server time (mean, in-process), target ≤ 100 ms: "
        f"{'met' if card <= 100 else 'not met'} (load average {os.getloadavg()[0]:.2f})"
    )
    return costs


# Fresh requests prepared per second of a wrk phase: above any rate wrk reaches here (it would
# replay past the end otherwise, and the repeats count as errors). Each of wrk's two threads takes
# half; at 1,500 a check-in phase through granian (1,216/s) ran past one thread's half (session 18).
WRK_LINES_PER_SECOND = 2500
# The status of a fresh request's success (wrk counts any other as an error).
OK_STATUS = {"resolve": 200, "validate": 200, "redeem": 201, "checkin": 201, "claim": 201}

TARGET_RATES = {"resolve": 500, "validate": 800, "redeem": 300, "checkin": 800, "claim": 500}


STEADY = {"resolve": 200, "redeem": 150, "checkin": 300, "claim": 200}


def over_http(endpoints: dict[str, Endpoint], args: argparse.Namespace) -> None:
    port = free_port()
    server = start_server(port, args.workers, python=args.server_python, server=args.server)
    server_pids = pids_of("-g", str(server.pid))
    print(
        f"over HTTP: {args.server}, {args.workers} workers on {args.server_python or sys.executable}, "
        f"{args.threads} client threads, {args.seconds:.0f} s a phase; {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    phase = {"seconds": args.seconds, "threads": args.threads, "server_pids": server_pids}
    try:
        floor = Client(port, "", endpoints["resolve"].host)
        saturate("warm-up", lambda: floor.request("GET", "/healthz"), seconds=2, threads=2)
        base = saturate("GET /healthz (floor)", lambda: floor.request("GET", "/healthz"), **phase)
        tiers = Client(port, endpoints["resolve"].key, endpoints["resolve"].host)
        saturate("GET /api/v1/tiers (auth floor)", lambda: tiers.request("GET", "/api/v1/tiers"), **phase)
        for endpoint in endpoints.values():
            endpoint.prepare()
            sat = saturate(endpoint.label, endpoint.http(port), **phase)
            print(f"    {sat.rate / base.rate:.2f} of the floor's rate", flush=True)
        if args.wrk:
            # The same saturation with wrk: the Python client above spends about as much CPU per
            # request as the server on the same two cores; wrk a tenth of it.
            print(f"  wrk, 2 threads, {args.wrk_connections} connections:", flush=True)
            for name, endpoint in endpoints.items():
                endpoint.prepare()
                requests = [endpoint.make() for _ in range(int(args.seconds * WRK_LINES_PER_SECOND))]
                sat = saturate_wrk(
                    endpoint.label,
                    requests,
                    port=port,
                    host=endpoint.host,
                    key=endpoint.key,
                    seconds=args.seconds,
                    connections=args.wrk_connections,
                    server_pids=server_pids,
                    ok=OK_STATUS[name],
                )
                print(f"    target ≥ {TARGET_RATES[name]}/s: {'met' if sat.rate >= TARGET_RATES[name] else 'not met'}")
        for name, rate in STEADY.items():
            endpoints[name].prepare()
            steady(endpoints[name].label, endpoints[name].http(port), rate=rate, seconds=args.seconds)
    finally:
        stop(server)
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(f"signal {signum}")  # runs the finally that stops the server


def main() -> None:
    signal.signal(signal.SIGTERM, _terminate)
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--codes", type=int, default=10_000_000)
    parser.add_argument("--in-process", type=int, default=300, help="requests per endpoint in-process (0: skip)")
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument(
        "--server-python",
        help="the server's interpreter: a virtualenv's python with the requirements (e.g. on an optimised "
        "PGO + LTO CPython, as production runs; bench/README.md 'Session 17'); default this script's",
    )
    parser.add_argument(
        "--server", default="granian", help="granian (the Procfile's), granian-t2, gunicorn (sync) or gthread"
    )
    parser.add_argument("--no-http", dest="http", action="store_false")
    parser.add_argument(
        "--client",
        choices=["auto", "python", "wrk"],
        default="auto",
        help="saturation also with wrk (auto: when installed; Debian: apt-get install wrk)",
    )
    parser.add_argument("--wrk-connections", type=int, default=8)
    parser.add_argument(
        "--serial-offset", type=int, default=0, help="scan codes from this far on (two runs at the same time)"
    )
    args = parser.parse_args()
    if args.client == "wrk" and shutil.which("wrk") is None:
        raise SystemExit("--client wrk: wrk is not installed (Debian: apt-get install wrk)")
    args.wrk = args.client == "wrk" or (args.client == "auto" and shutil.which("wrk") is not None)
    random.seed(RUN)
    endpoints = setup(args)
    if args.in_process:
        in_process(endpoints, args.in_process)
    connection.close()
    if args.http:
        over_http(endpoints, args)


if __name__ == "__main__":
    main()
