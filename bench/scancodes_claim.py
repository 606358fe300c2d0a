"""Benchmark: the scan-code claim in-process, the one-statement common case (scancodes/claim_fast.py)
against the ORM path, A/B in the same run (issue 28, session 15).

    DATABASE_URL=... CACHE_URL=redis://127.0.0.1:6379/<db> \\
        .venv/bin/python bench/scancodes_claim.py [--codes 10000000] [--count 200] [--rounds 3]

It reuses bench/scancodes_http.py's brand `benchscanhttp` (`--codes` codes in one batch, generated
once and kept; one activated segment; a points campaign without caps; 20,000 members) and
bench/inprocess.py (the WSGI application called directly: no HTTP, no load generator on the
cores). Per request it reports the Python CPU, the CPU of the process's PostgreSQL backend and the
statements, for:
- the auth floor GET /api/v1/tiers (API-key auth and one indexed read);
- POST /api/v1/scancodes/claims, a fresh code by a fresh member (the issue's case: 4 tags made
  new for the member, each told to the tags-changed hook), fast then ORM path;
- the same by a returning member (already tagged: no tag events), fast then ORM path.
The fast/ORM phases alternate `--rounds` times so that both see the same machine load; each
claim takes a fresh code (codes and members are used up run after run).
"""

import argparse
import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings.dev")
os.environ["DEBUG"] = "false"  # before django.setup(): DEBUG records every query
os.environ["API_THROTTLE_RATE"] = "1000000/min"

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402

from bench import scancodes_http  # noqa: E402
from bench.inprocess import Cost, Wsgi, measure  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--codes", type=int, default=10_000_000)
    parser.add_argument("--count", type=int, default=200, help="requests per phase")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    key, batch, batch_key = scancodes_http.setup(args.codes, 20_000)
    work = scancodes_http.Work(batch, batch_key)
    returning = work.members[-20:]  # a few members who claim again and again (tagged by their first)
    del work.members[-20:]
    turn = [0]

    def returning_body() -> dict[str, object]:
        body = work.claim_body()
        work.members.append(str(body["member_no"]))  # not used up: give the fresh member back
        turn[0] += 1
        return {**body, "member_no": returning[turn[0] % len(returning)]}

    connection.close()
    client = Wsgi(scancodes_http.HOST, {"Authorization": f"Api-Key {key}"})

    def claim(body: dict[str, object]) -> int:
        return client.request("POST", "/api/v1/scancodes/claims", body)[0]

    def claim_made(make: Callable[[], dict[str, object]]) -> int:
        return claim(make())

    print(f"in-process, {args.count} requests a phase, load average {os.getloadavg()[0]:.2f}", flush=True)
    floor = measure("GET /api/v1/tiers (auth floor)", lambda: client.request("GET", "/api/v1/tiers")[0], args.count)
    print(floor.line(), flush=True)
    totals: dict[str, list[Cost]] = {}
    for round_no in range(args.rounds):
        for member_kind, make in (("fresh member", work.claim_body), ("returning member", returning_body)):
            for fast in (True, False):
                settings.SCANCODES_CLAIM_FAST = fast
                label = f"claim, {member_kind}, {'fast' if fast else 'ORM'}"
                cost = measure(label, functools.partial(claim_made, make), args.count, warm_up=5)
                totals.setdefault(label, []).append(cost)
                print(f"round {round_no + 1}: {cost.line(floor)}", flush=True)
    print(f"means over the rounds (load average {os.getloadavg()[0]:.2f}):")
    for label, costs in totals.items():
        mean = Cost(
            label=label,
            count=sum(c.count for c in costs),
            python_ms=sum(c.python_ms for c in costs) / len(costs),
            postgres_ms=sum(c.postgres_ms for c in costs) / len(costs),
            statements=sum(c.statements for c in costs) / len(costs),
            wall_ms=sum(c.wall_ms for c in costs) / len(costs),
            statuses={s: sum(c.statuses.get(s, 0) for c in costs) for c in costs for s in c.statuses},
        )
        print(mean.line(floor))


if __name__ == "__main__":
    main()
