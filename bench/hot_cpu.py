"""CPU per request of the check-in and the scan-code claim, in-process, for A/B runs of two
checkouts against the same data (session 16). Two steps, so that both checkouts spend the same
prepared requests (fresh members, fresh codes) and neither pays the setup in its measurement:

    # once, from either checkout: N fresh check-in members and N fresh claims, keys, in FILE
    .venv/bin/python bench/hot_cpu.py prepare 30000 /tmp/hot.json
    # then, alternating the checkouts (cd /work/main; cd /work/wt/...), each run skipping what the
    # earlier runs used:
    .venv/bin/python bench/hot_cpu.py measure /tmp/hot.json checkin 300 --skip 0
    .venv/bin/python bench/hot_cpu.py measure /tmp/hot.json claim 300 --skip 320

`measure` prints bench/inprocess.py's line (Python CPU of this process + its PostgreSQL backend's
CPU, statements) and the Redis commands sent per request. It reuses the brands of
bench/engagement_checkin_http.py (`benchcheckin`) and bench/scancodes_http.py (`benchscanhttp`).
"""

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings.dev")
os.environ["DEBUG"] = "false"
os.environ["API_THROTTLE_RATE"] = "1000000/min"  # counted as always, never refused

import django  # noqa: E402

django.setup()


def prepare(count: int, path: str, codes: int, serial_offset: int) -> None:
    from bench import engagement_checkin_http as checkins
    from bench import scancodes_http as scans

    checkin_key = checkins.setup(count)
    scan_key, batch, batch_key = scans.setup(codes, 20_000, fresh=count)
    work = scans.Work(batch, batch_key)
    work.next_serial += serial_offset
    if serial_offset:  # beside bench/hot_paths.py's runs: the other end of the codes and unused members
        work.members.reverse()
    numbers = [f"/api/v1/members/C{checkins.RUN}{n:07d}/checkins" for n in range(count)]
    claims = [work.claim_body() for _ in range(count)]
    Path(path).write_text(
        json.dumps({"checkin_key": checkin_key, "scan_key": scan_key, "checkins": numbers, "claims": claims})
    )


def measure(path: str, call: str, count: int, skip: int) -> None:
    import redis.connection

    from bench import engagement_checkin_http as checkins
    from bench import scancodes_http as scans
    from bench.inprocess import Wsgi
    from bench.inprocess import measure as measured

    work = json.loads(Path(path).read_text())
    sent = [0]
    send_packed = redis.connection.Connection.send_packed_command

    def counting(self: object, *args: object, **kwargs: object) -> None:
        sent[0] += 1
        send_packed(self, *args, **kwargs)  # type: ignore[arg-type]

    redis.connection.Connection.send_packed_command = counting  # type: ignore[method-assign]
    checkin_client = Wsgi(checkins.HOST, {"Authorization": f"Api-Key {work['checkin_key']}"})
    scan_client = Wsgi(scans.HOST, {"Authorization": f"Api-Key {work['scan_key']}"})
    paths, bodies = iter(work["checkins"][skip:]), iter(work["claims"][skip:])

    def send() -> int:
        if call == "tiers":
            return checkin_client.request("GET", "/api/v1/tiers")[0]
        if call == "checkin":
            return checkin_client.request("POST", next(paths), {})[0]
        return scan_client.request("POST", "/api/v1/scancodes/claims", next(bodies))[0]

    cost = measured(call, send, count, warm_up=10)
    print(
        cost.line(), f"Redis commands/request {sent[0] / (count + 10):.2f}; load {os.getloadavg()[0]:.2f}", flush=True
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="step", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("count", type=int)
    p.add_argument("path")
    p.add_argument("--codes", type=int, default=400_000)
    p.add_argument(
        "--serial-offset", type=int, default=0, help="codes from this far on (clear of bench/hot_paths.py's)"
    )
    m = sub.add_parser("measure")
    m.add_argument("path")
    m.add_argument("call", choices=["tiers", "checkin", "claim"])
    m.add_argument("count", type=int)
    m.add_argument("--skip", type=int, default=0, help="prepared requests earlier runs used")
    args = parser.parse_args()
    if args.step == "prepare":
        prepare(args.count, args.path, args.codes, args.serial_offset)
    else:
        measure(args.path, args.call, args.count, args.skip)


if __name__ == "__main__":
    main()
