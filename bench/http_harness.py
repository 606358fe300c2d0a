"""The HTTP benchmark harness every bench/*_http.py script shares (and bench/hot_paths.py):

- `start_server(port, workers)` / `stop(process)`: the project's web server as the Procfile runs
  it (granian; `server="gunicorn"` for the previous one) bound to 127.0.0.1 only, DEBUG off, no
  API rate limit, in its own process group (stopped by that group only);
- `Client(port, key, host)`: JSON requests with the API key on the bench brand's host, one
  connection per request (the Python client's cost; wrk keeps its connections alive);
- `saturate(label, send, …)`: `threads` client threads call `send()` (→ HTTP status) back to back
  for `seconds`; prints the rate, p50/p99, errors and the CPU per request of the server processes
  and of this database's PostgreSQL backends (from /proc: machine-independent, unlike the rate on
  a shared machine);
- `steady(label, send, rate=…)`: open loop — request i is due at start + i/rate and its latency
  counts from when it was due, so a server that falls behind shows it (no coordinated omission);
- `percentile`, `process_cpu_seconds`, `pids_of`, `free_port`, `backend_pids`.

It imports nothing of Django at module level (bench/hot_paths.py and the scripts set Django up
themselves); `backend_pids` reads pg_stat_activity through the caller's Django connection.
"""

import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OK = frozenset({200, 201})
# The web servers start_server knows: the Procfile's first.
SERVERS = ("granian", "granian-t2", "gunicorn", "gthread")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(
    port: int,
    workers: int,
    python: str | None = None,
    startup_seconds: float = 120,
    root: Path = ROOT,
    server: str = "granian",
) -> subprocess.Popen[bytes]:
    """The web server serving the checkout at `root` (this one by default; bench/hot_ab.py serves
    two): `server` is "granian" (the Procfile's: HTTP in Rust, keep-alive, Django on one thread
    per worker; "granian-t2": two threads), "gunicorn" (sync workers, the server before session
    18: HTTP parsed in Python, a connection per request) or "gthread" (gunicorn's threaded
    workers, 2 threads each, keep-alive)."""
    env = {**os.environ, "DEBUG": "false", "API_THROTTLE_RATE": "1000000/min"}
    # The server of the interpreter running this script (a worktree has no .venv of its own), or of
    # the virtualenv interpreter `python`.
    interpreter = python or sys.executable
    if server not in SERVERS:
        raise ValueError(f"unknown server {server!r}: one of {', '.join(SERVERS)}")
    if server.startswith("granian"):
        threads = server.removeprefix("granian").removeprefix("-t") or "1"
        argv = [interpreter, "-m", "granian", "--interface", "wsgi", "crm.wsgi:application"]
        argv += ["--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
        argv += ["--blocking-threads", threads, "--blocking-threads-idle-timeout", "600"]
        argv += ["--log-level", "warning", "--no-ws"]
    else:
        argv = [interpreter, "-m", "gunicorn", "crm.wsgi", "--bind", f"127.0.0.1:{port}"]
        argv += ["--workers", str(workers), "--log-level", "warning"]
        argv += ["--threads", "2", "--worker-class", "gthread"] if server == "gthread" else ["--threads", "1"]
    process = subprocess.Popen(  # noqa: S603 (fixed argv: our own server and module)
        argv,
        cwd=root,
        env=env,
        start_new_session=True,
    )
    # Four workers importing Django took 48 s to answer under a load average of 16 (2 CPUs).
    deadline = time.monotonic() + startup_seconds
    while time.monotonic() < deadline:
        try:
            if Client(port, key="", host="localhost").request("GET", "/healthz") < 500:
                return process
        except OSError:
            time.sleep(0.2)
    stop(process)
    raise SystemExit(f"{server} did not come up")


def stop(process: subprocess.Popen[bytes]) -> None:
    # Only the process group this script started.
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


class Client:
    """JSON requests to one brand's host, a connection per request (as a partner behind a load
    balancer without keep-alive would send them)."""

    def __init__(self, port: int, key: str, host: str) -> None:
        self.port = port
        self.headers = {"Host": host, "Authorization": f"Api-Key {key}", "Content-Type": "application/json"}

    def request(self, method: str, path: str, body: Any = None) -> int:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            payload = None if body is None else json.dumps(body).encode()
            connection.request(method, path, body=payload, headers=self.headers)
            response = connection.getresponse()
            response.read()
            return response.status
        finally:
            connection.close()


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def process_cpu_by_pid(pids: list[int]) -> dict[int, float]:
    """CPU seconds so far of each process still running."""
    found = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue  # ended meanwhile
        found[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return found


def process_cpu_seconds(pids: list[int]) -> float:
    return sum(process_cpu_by_pid(pids).values())


def cpu_since(before: dict[int, float], pids: list[int]) -> float:
    """CPU seconds the processes spent since `before` was read: a process that ended meanwhile is
    left out (its time is lost: an undercount, never the negative figure a sum of sums gave when a
    database backend closed during the phase); one started meanwhile counts from zero."""
    now = process_cpu_by_pid(pids)
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in now.items())


def pids_of(*pgrep_args: str) -> list[int]:
    found = subprocess.run(["pgrep", *pgrep_args], capture_output=True, text=True, check=False)  # noqa: S603, S607
    return [int(pid) for pid in found.stdout.split()]


def backend_pids() -> list[int]:
    """The PostgreSQL backends of this database (the server's and the bench's connections)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        return [pid for (pid,) in cursor.fetchall()]


@dataclass
class Phase:
    label: str
    rate: float
    p50: float
    p99: float
    errors: int
    server_ms: float | None = None
    postgres_ms: float | None = None

    @property
    def cpu_ms(self) -> float | None:
        if self.server_ms is None or self.postgres_ms is None:
            return None
        return self.server_ms + self.postgres_ms


def saturate(
    label: str,
    send: Callable[[], int],
    *,
    seconds: float,
    threads: int,
    server_pids: list[int] | None = None,
    ok: frozenset[int] = OK,
) -> Phase:
    """`threads` threads call `send` (→ HTTP status) back to back for `seconds`. With
    `server_pids`, the CPU per request of those processes and of the database's backends."""
    done: list[tuple[float, int]] = []
    lock = threading.Lock()
    end = time.monotonic() + seconds

    def worker() -> None:
        while time.monotonic() < end:
            start = time.perf_counter()
            try:
                status = send()
            except OSError:
                status = 0
            with lock:
                done.append((time.perf_counter() - start, status))

    measured = server_pids is not None
    if measured:
        cpu_server, cpu_postgres = process_cpu_by_pid(server_pids or []), process_cpu_by_pid(backend_pids())
    started = time.monotonic()
    with ThreadPoolExecutor(threads) as pool:
        for _ in range(threads):
            pool.submit(worker)
    elapsed = time.monotonic() - started
    latencies = [lat * 1000 for lat, status in done if status in ok]
    n = max(len(done), 1)
    phase = Phase(
        label,
        len(latencies) / elapsed,
        percentile(latencies, 0.5),
        percentile(latencies, 0.99),
        len(done) - len(latencies),
    )
    cpu = ""
    if measured:
        phase.server_ms = cpu_since(cpu_server, server_pids or []) / n * 1000
        phase.postgres_ms = cpu_since(cpu_postgres, backend_pids()) / n * 1000
        cpu = f"; CPU per request: server {phase.server_ms:.2f} ms, PostgreSQL {phase.postgres_ms:.2f} ms"
    print(
        f"  {label:<34} {phase.rate:7.0f}/s  p50 {phase.p50:6.1f} ms  p99 {phase.p99:6.1f} ms  "
        f"errors {phase.errors}{cpu}",
        flush=True,
    )
    return phase


def steady(
    label: str,
    send: Callable[[], int],
    *,
    rate: float,
    seconds: float,
    threads: int = 64,
    ok: frozenset[int] = OK,
) -> Phase:
    """Open loop: request i is due at start + i/rate; its latency counts from when it was due."""
    total = int(rate * seconds)
    results: list[tuple[float, int]] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        due = start + i / rate
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        try:
            status = send()
        except OSError:
            status = 0
        with lock:
            results.append((time.monotonic() - due, status))

    with ThreadPoolExecutor(threads) as pool:
        # Every thread of the pool started before the clock does (starting 64 threads on the
        # first due requests delayed them by up to 0.2 s, which counted as server latency).
        list(pool.map(time.sleep, [0.05] * threads))
        start = time.monotonic() + 0.5
        list(pool.map(one, range(total)))
    elapsed = time.monotonic() - start
    latencies = [lat * 1000 for lat, status in results if status in ok]
    phase = Phase(
        label, len(latencies) / elapsed, percentile(latencies, 0.5), percentile(latencies, 0.99), total - len(latencies)
    )
    print(
        f"  {label:<34} steady {rate:.0f}/s for {seconds:.0f} s: {len(results)} sent in {elapsed:.1f} s, "
        f"errors {phase.errors}, p50 {phase.p50:.1f} ms, p99 {phase.p99:.1f} ms, "
        f"max {max(latencies, default=float('nan')):.1f} ms, mean {statistics.mean(latencies or [0]):.1f} ms",
        flush=True,
    )
    return phase


WRK_SCRIPT = Path(__file__).resolve().parent / "wrk_requests.lua"


def saturate_wrk(
    label: str,
    requests: list[tuple[str, str, Any]],
    *,
    port: int,
    host: str,
    key: str,
    seconds: float,
    connections: int,
    server_pids: list[int],
    ok: int,
) -> Phase:
    """The same saturation with wrk (C, a tenth of the Python client's CPU per request, so the
    server keeps more of the two cores): it replays `requests` — (method, path, JSON body or None),
    each fresh — from 2 threads and `connections` connections; a status other than `ok` (or a
    request replayed past the end of the list) counts as an error."""
    with tempfile.NamedTemporaryFile("w", suffix=".tsv", delete=False) as file:
        for method, path, body in requests:
            file.write(f"{method}\t{path}\t{'' if body is None else json.dumps(body, ensure_ascii=False)}\n")
    try:
        cpu_server, cpu_postgres = process_cpu_by_pid(server_pids), process_cpu_by_pid(backend_pids())
        run = subprocess.run(  # noqa: S603 (fixed argv; wrk from PATH)
            [  # noqa: S607
                "wrk",
                "-t2",
                f"-c{connections}",
                f"-d{max(1, round(seconds))}s",
                "-s",
                str(WRK_SCRIPT),
                f"http://127.0.0.1:{port}",
                "--",
                file.name,
                key,
                host,
                "2",
                str(ok),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        server_cpu, postgres_cpu = cpu_since(cpu_server, server_pids), cpu_since(cpu_postgres, backend_pids())
    finally:
        os.unlink(file.name)
    # "wrk: <requests> requests, <rate> req/s, non-ok <n>, socket errors <n>, p50 <ms> ms, p99 <ms> ms, <n> prepared"
    words = next(line for line in run.stdout.splitlines() if line.startswith("wrk:")).replace(",", "").split()
    total, rate, bad, socket_errors = int(words[1]), float(words[3]), int(words[6]), int(words[9])
    phase = Phase(label, rate * (total - bad) / max(total, 1), float(words[11]), float(words[14]), bad + socket_errors)
    phase.server_ms = server_cpu / max(total, 1) * 1000
    phase.postgres_ms = postgres_cpu / max(total, 1) * 1000
    print(
        f"  {label + ' (wrk)':<34} {phase.rate:7.0f}/s  p50 {phase.p50:6.1f} ms  p99 {phase.p99:6.1f} ms  "
        f"errors {phase.errors} of {total}; CPU per request: server {phase.server_ms:.2f} ms, "
        f"PostgreSQL {phase.postgres_ms:.2f} ms",
        flush=True,
    )
    return phase
