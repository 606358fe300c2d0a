"""In-process cost of one request through the whole Django stack, without HTTP: the WSGI handler
the web server calls (`crm.wsgi.application`) called directly with a built environ, so what is measured
is the middleware, the view and the services — not a load generator sharing the cores.

For a run of `count` requests it reports, per request: the Python CPU of this process
(`time.process_time`), the CPU of this process's PostgreSQL backend (its /proc entry: a local
server), the SQL statements sent (`connection.execute_wrapper`) and the wall time. Used by
bench/hot_paths.py for every hot endpoint and its floors (GET /healthz, a trivial authenticated
GET).
"""

import io
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.db import connection

from bench.http_harness import process_cpu_seconds


@dataclass
class Cost:
    label: str
    count: int
    python_ms: float
    postgres_ms: float
    statements: float
    wall_ms: float
    statuses: dict[int, int]

    @property
    def cpu_ms(self) -> float:
        return self.python_ms + self.postgres_ms

    def line(self, *floors: "Cost") -> str:
        ratio = "".join(f", {self.cpu_ms / f.cpu_ms:4.1f}× {f.label.split(' (')[0]}" for f in floors if f.cpu_ms)
        return (
            f"  {self.label:<34} CPU {self.python_ms:5.2f} ms Python + {self.postgres_ms:4.2f} ms PostgreSQL "
            f"= {self.cpu_ms:5.2f} ms → ≤ {2000 / self.cpu_ms:5.0f}/s on 2 idle cores{ratio}; "
            f"{self.statements:4.1f} statements, wall {self.wall_ms:5.2f} ms; statuses {self.statuses}"
        )


class Wsgi:
    """Calls the project's WSGI application as the web server does, one request at a time."""

    def __init__(self, host: str, headers: dict[str, str] | None = None) -> None:
        from crm.wsgi import application

        self.app = application
        self.host = host
        self.headers = dict(headers or {})
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        payload = b"" if body is None else json.dumps(body).encode()
        path, _, query = path.partition("?")
        environ: dict[str, Any] = {
            "REQUEST_METHOD": method,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "SCRIPT_NAME": "",
            "SERVER_NAME": self.host,
            "SERVER_PORT": "80",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_HOST": self.host,
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(payload),
            "wsgi.errors": io.StringIO(),
            "wsgi.multithread": False,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
        }
        if payload:
            environ["CONTENT_TYPE"] = "application/json"
            environ["CONTENT_LENGTH"] = str(len(payload))
        for name, value in self.headers.items():
            environ["HTTP_" + name.upper().replace("-", "_")] = value
        if self.cookies:
            environ["HTTP_COOKIE"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        status: list[str] = []
        response_headers: list[tuple[str, str]] = []

        def start_response(s: str, h: list[tuple[str, str]], exc_info: Any = None) -> None:
            status.append(s)
            response_headers.extend(h)

        result = self.app(environ, start_response)
        try:
            content = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        for name, value in response_headers:
            if name.lower() == "set-cookie":
                cookie = value.split(";", 1)[0]
                key, _, val = cookie.partition("=")
                self.cookies[key.strip()] = val.strip()
        return int(status[0].split()[0]), content


@contextmanager
def counted_statements() -> Iterator[list[int]]:
    counter = [0]

    def wrapper(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        counter[0] += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        yield counter


def backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return int(cursor.fetchone()[0])


def backend_cpu_seconds() -> float:
    """CPU time so far of this connection's PostgreSQL backend (a local server's /proc)."""
    return process_cpu_seconds([backend_pid()])


def measure(label: str, send: Callable[[], int], count: int, warm_up: int = 20) -> Cost:
    """`send()` (→ HTTP status) `count` times after `warm_up` calls; the cost per call."""
    for _ in range(warm_up):
        send()
    pid = backend_pid()  # the connection every request of the run uses: kept open throughout
    connection.close_at = None  # (not renewed after CONN_MAX_AGE: the old backend's CPU would go)
    connection.settings_dict["CONN_MAX_AGE"] = None
    statuses: dict[int, int] = {}
    with counted_statements() as statements:
        postgres_start = process_cpu_seconds([pid])
        python_start, wall_start = time.process_time(), time.perf_counter()
        for _ in range(count):
            status = send()
            statuses[status] = statuses.get(status, 0) + 1
        python = time.process_time() - python_start
        wall = time.perf_counter() - wall_start
    if connection.connection is None or connection.connection.info.backend_pid != pid:
        raise SystemExit(f"{label}: a request closed the database connection; its backend's CPU is lost")
    postgres = process_cpu_seconds([pid]) - postgres_start
    return Cost(
        label=label,
        count=count,
        python_ms=python / count * 1000,
        postgres_ms=postgres / count * 1000,
        statements=statements[0] / count,
        wall_ms=wall / count * 1000,
        statuses=statuses,
    )
