"""Browser journeys: Debian's chromium driven by Playwright (python) against a real server.

The server is granian, as the Procfile runs it, in a subprocess on the test database (so the
data a test commits is what the browser sees); each journey provisions a brand of its own —
committed data cannot be rolled back, and the ledger is append-only, so the brand's schema is
dropped afterwards instead. Brand hosts are `<slug>.localhost:<port>`: Chromium resolves
*.localhost to the loopback itself.
Screenshots go to test-output/ (gitignored).
"""

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from django.conf import settings

from crm.db import connection
from crm.tenancy.models import Brand
from crm.tenancy.services import brand_provision
from tests.conftest import brand_contacts
from tests.members.loyalty_scene import brand_discard

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parent.parent.parent
SCREENSHOTS = ROOT / "test-output" / "browser"
PASSWORD = "Browser-Test-2026"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _database_url() -> str:
    """The URL the suite connects with, naming the test database instead: host, port, socket
    folder (the embedded server's `?host=`) and credentials stay whatever they are."""
    url = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(url._replace(path="/" + settings.DATABASES["default"]["NAME"]))


@pytest.fixture(scope="session")
def server(django_db_setup: Any, django_db_blocker: Any) -> Iterator[int]:
    """The production web server (granian, as the Procfile runs it) serving the test database;
    yields its port."""
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "DJANGO_SETTINGS_MODULE": "crm.settings.test",
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "granian",
            "--interface",
            "wsgi",
            "crm.wsgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "2",
            "--blocking-threads",
            "1",
            "--no-ws",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        # Generous: on a loaded shared machine two workers importing Django take well over 30 s.
        deadline = time.monotonic() + 120
        while True:
            try:
                # An unknown host is a 404 from the tenant middleware: the server is up.
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the test server did not start") from None
                time.sleep(0.3)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=20)
        # The server's workers may leave their pooled connections (CONN_MAX_AGE) to time out on the
        # server side; end them so that the test database can be dropped.
        with django_db_blocker.unblock(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )


@pytest.fixture
def live_brand(committed_db: Any) -> Iterator[Brand]:
    slug = f"web{uuid.uuid4().hex[:8]}"
    result = brand_provision(
        slug=slug,
        name="浏览器测试品牌",
        domain=f"{slug}.localhost",
        admin_email=f"admin@{slug}.example",
        admin_password=PASSWORD,
        **brand_contacts(slug),
    )
    try:
        yield result.brand
    finally:
        # Jobs the pages queued (a pool job, an import) that no worker ran go with it.
        brand_discard(result.brand)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an asyncio loop in this thread while it is started, and Django
    # then refuses ORM calls "from an async context". The test's own ORM calls never run
    # concurrently with it (the loop only drives the browser between them), so they are safe to
    # allow while the browser runs: for this module only, so the tests after it keep Django's guard.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as playwright:
            instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield instance
            instance.close()
    finally:
        if previous is None:
            del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


def base_url(brand: Brand, port: int) -> str:
    return f"http://{brand.schema_name}.localhost:{port}"


def login(page: Any, url: str, username: str, password: str = PASSWORD) -> None:
    page.goto(f"{url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("[type=submit]")
    try:
        # The brand admin's home (the dashboard); store roles go on to their workbench.
        page.wait_for_url(lambda address: address in (f"{url}/admin/", f"{url}/admin/workbench/"))
    except Exception:
        # What the browser shows instead (a refused login, an error page) says why.
        page.screenshot(path=SCREENSHOTS / "login-failed.png", full_page=True)
        raise AssertionError(f"login as {username} ended on {page.url}") from None
