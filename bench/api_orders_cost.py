"""Benchmark: the CPU cost of one partner order request, without HTTP or a load generator.

Timing figures on a shared 2-core virtual machine move by ±25 % from one run to the next, which
hides a change worth 10 %. This measures what a change can actually move — the work per request:
it posts `--n` orders (or batches of `--batch`) through the real WSGI application in-process
(middleware, key check, throttle, validation, the ingest, the response) on the same brand and
data as bench/api_orders_http.py, and reports per request the Python process's CPU time and the
PostgreSQL backend's CPU time (from /proc). For a figure that does not depend on the machine at
all, run it under callgrind twice and take the difference (the start-up cancels out):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/apibench CACHE_URL=redis://127.0.0.1:6379/5 \\
        .venv/bin/python bench/api_orders_cost.py --n 2000
    for n in 50 250; do valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.$n \\
        .venv/bin/python bench/api_orders_cost.py --n $n 2>&1 | grep Collected; done
    # instructions per request = (Collected(250) - Collected(50)) / 200

Orders accumulate in the bench brand like the HTTP benchmark's; for A/B comparisons start each
run from the same copy of the database (`createdb -T apibench apibench_ab`).
"""

import argparse
import io
import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ["DEBUG"] = "false"
os.environ["API_THROTTLE_RATE"] = "1000000/min"

import api_orders_http as http_bench  # sets Django up
from django.core.wsgi import get_wsgi_application
from django.db import connection


def backend_cpu_seconds() -> float:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000, help="requests measured")
    parser.add_argument("--batch", type=int, default=0, help="orders per batch request (0: single orders)")
    parser.add_argument("--members", type=int, default=20_000)  # as bench/api_orders_http.py
    parser.add_argument(
        "--plans", action="store_true", help="then list this connection's prepared statements and their plan counts"
    )
    args = parser.parse_args()
    key = http_bench.setup(args.members)
    app = get_wsgi_application()
    orders = http_bench.Orders(args.members)

    def post(path: str, body: Any) -> None:
        data = json.dumps(body).encode()
        environ = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": path,
            "SCRIPT_NAME": "",
            "SERVER_NAME": http_bench.HOST,
            "SERVER_PORT": "80",
            "HTTP_HOST": http_bench.HOST,
            "HTTP_AUTHORIZATION": f"Api-Key {key}",
            "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": str(len(data)),
            "wsgi.input": io.BytesIO(data),
            "wsgi.url_scheme": "http",
            "wsgi.errors": sys.stderr,
        }
        statuses: list[str] = []
        body_out = b"".join(app(environ, lambda status, headers, *_: statuses.append(status)))
        if not statuses[0].startswith(("200", "201")):
            raise SystemExit(f"{statuses[0]}: {body_out[:300]!r}")

    def one() -> None:
        if args.batch:
            post("/api/v1/orders/batch", {"orders": [orders.next() for _ in range(args.batch)]})
        else:
            post("/api/v1/orders", orders.next())

    for _ in range(20):  # warm-up: imports, caches, prepared statements
        one()
    backend0, own0, wall0 = backend_cpu_seconds(), own_cpu_seconds(), time.perf_counter()
    for _ in range(args.n):
        one()
    wall, own, backend = time.perf_counter() - wall0, own_cpu_seconds() - own0, backend_cpu_seconds() - backend0
    unit = f"batch of {args.batch}" if args.batch else "single order"
    print(
        f"{args.n} requests ({unit}): per request wall {wall / args.n * 1000:.2f} ms, "
        f"Python CPU {own / args.n * 1000:.2f} ms, PostgreSQL backend CPU {backend / args.n * 1000:.2f} ms"
    )
    if args.plans:
        # A statement PostgreSQL re-plans on every call (custom plans growing with the runs) spends
        # its bind on planning: see crm/db/arrays.py.
        with connection.cursor() as cursor:
            cursor.execute("SELECT generic_plans, custom_plans, statement FROM pg_prepared_statements ORDER BY 2 DESC")
            for generic, custom, statement in cursor.fetchall():
                print(f"generic {generic:5d}  custom {custom:5d}  {' '.join(statement.split())[:100]}")


if __name__ == "__main__":
    main()
