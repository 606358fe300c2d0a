"""A/B of the hot partner calls over HTTP: two (or more) servers — checkouts and/or interpreters —
measured in alternating phases of the same run on the same prepared requests (session 17).

On a machine shared with other work the rates move from minute to minute; what a code change
does shows in the CPU per request of the web server and of PostgreSQL, and in each side's rate
against its own auth floor (GET /api/v1/tiers) measured in the same round. Each side is one server
(`--workers` sync workers) started once; the rounds then alternate the sides, each phase driven
by wrk with fresh requests (the check-ins and claims prepared by bench/hot_cpu.py):

    .venv/bin/python bench/hot_cpu.py prepare 60000 /tmp/hot.json        # once
    .venv/bin/python bench/hot_ab.py /tmp/hot.json --skip 0 \\
        --side base=/tmp/base --side new=/work/wt/hot \\
        --side new-pgo=/work/wt/hot:/tmp/pgo-venv/bin/python --rounds 3 --seconds 8

A side is NAME=CHECKOUT[:PYTHON][@WORKERS][+SERVER] (PYTHON: the interpreter of a virtualenv with
the requirements, default this script's; WORKERS: its server's, default `--workers`; SERVER:
granian — the Procfile's, the default — granian-t2, gunicorn or gthread). `--skip`:
prepared requests earlier runs used (the script prints where the next run should start).
"""

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings.dev")
os.environ["DEBUG"] = "false"

import django  # noqa: E402

django.setup()

from bench import engagement_checkin_http as checkins  # noqa: E402
from bench import scancodes_http as scans  # noqa: E402
from bench.http_harness import SERVERS, free_port, pids_of, saturate_wrk, start_server, stop  # noqa: E402

OK_STATUS = {"tiers": 200, "checkin": 201, "claim": 201}
# Fresh requests handed to one wrk phase per second: above any rate reached here.
LINES_PER_SECOND = 2500


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("path", help="the file of bench/hot_cpu.py prepare")
    parser.add_argument("--side", action="append", required=True, help="NAME=CHECKOUT[:PYTHON][@WORKERS][+SERVER]")
    parser.add_argument("--calls", default="tiers,checkin,claim")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--skip", type=int, default=0)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk)")
    work = json.loads(Path(args.path).read_text())
    fresh = {"checkin": work["checkins"], "claim": work["claims"]}
    used = {"checkin": args.skip, "claim": args.skip}
    calls = args.calls.split(",")
    sides = []
    for spec in args.side:
        name, _, where = spec.partition("=")
        head, plus, tail = where.rpartition("+")  # a checkout's path may hold a "+" of its own
        where, server = (head, tail) if plus and tail in SERVERS else (where, "")
        where, _, workers = where.partition("@")
        checkout, _, python = where.partition(":")
        sides.append((name, Path(checkout), python or None, int(workers or args.workers), server or "granian"))
    servers = {}
    try:
        for name, checkout, python, workers, server in sides:
            port = free_port()
            process = start_server(port, workers, python=python, root=checkout, server=server)
            servers[name] = (port, process, pids_of("-g", str(process.pid)))
            print(
                f"{name}: {server} {checkout} on {python or sys.executable}, {workers} workers, port {port}", flush=True
            )
        results: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
        for round_ in range(args.rounds):
            order = sides if round_ % 2 == 0 else sides[::-1]
            print(f"round {round_ + 1} (load average {os.getloadavg()[0]:.2f}):", flush=True)
            for name, *_ in order:
                port, _process, pids = servers[name]
                for call in calls:
                    lines = int(args.seconds * LINES_PER_SECOND)
                    if call == "tiers":
                        requests = [("GET", "/api/v1/tiers", None)] * lines
                        host, key = checkins.HOST, work["checkin_key"]
                    elif call == "checkin":
                        paths = fresh[call][used[call] : used[call] + lines]
                        requests = [("POST", path, {}) for path in paths]
                        host, key = checkins.HOST, work["checkin_key"]
                    else:
                        bodies = fresh[call][used[call] : used[call] + lines]
                        requests = [("POST", "/api/v1/scancodes/claims", body) for body in bodies]
                        host, key = scans.HOST, work["scan_key"]
                    if len(requests) < lines:
                        raise SystemExit("out of prepared requests: prepare more or lower --skip")
                    phase = saturate_wrk(
                        f"{name} {call}",
                        requests,
                        port=port,
                        host=host,
                        key=key,
                        seconds=args.seconds,
                        connections=args.connections,
                        server_pids=pids,
                        ok=OK_STATUS[call],
                    )
                    if call in used:  # the replayed lines of wrk's two threads: up to the larger share
                        used[call] += int(phase.rate * args.seconds * 1.25) + phase.errors + 200
                    results.setdefault((name, call), []).append(
                        (phase.rate, phase.server_ms or 0.0, phase.postgres_ms or 0.0)
                    )
        print("means over the rounds (rate, of its own floor, CPU per request server + PostgreSQL):")
        for name, *_ in sides:
            floor = results.get((name, "tiers"))
            for call in calls:
                runs = results[(name, call)]
                rate = sum(r for r, _s, _p in runs) / len(runs)
                server = sum(s for _r, s, _p in runs) / len(runs)
                postgres = sum(p for _r, _s, p in runs) / len(runs)
                ratio = f"{rate / (sum(r for r, _s, _p in floor) / len(floor)):.2f}" if floor else "-"
                print(
                    f"  {name:<10} {call:<8} {rate:6.0f}/s  {ratio} of the floor  "
                    f"{server:.2f} + {postgres:.2f} ms  (rounds: {', '.join(f'{r:.0f}' for r, _s, _p in runs)})"
                )
        print(f"next --skip {max(used.values())}; load average {os.getloadavg()[0]:.2f}")
    finally:
        for _port, process, _pids in servers.values():
            stop(process)


if __name__ == "__main__":
    main()
