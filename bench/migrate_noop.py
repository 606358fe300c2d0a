# ruff: noqa: S603, S607, S608  (fixed argv of psql/pg_dump/manage.py; SQL of our own making)
"""Benchmark: a no-op deploy migrate over N brands, stock (`migrate_schemas --tenant`, every brand)
against the fingerprint (`migrate_brands`: crm/tenancy/fingerprints.py). Issue 30's goal: 1,000
brands in <= 60 s; stock costs ~0.8 s a brand.

    .venv/bin/python bench/migrate_noop.py --brands 1000 [--database hb_cells] [--stock-sample 100]
        [--connections 2] [--regenerate]

It uses its own database (`--database`, default `hb_citus_mig_<N>`) on the server of DATABASE_URL
(made once, reused, grown to N brands): migrated public schema and template, then N brand schemas
cloned from the template SET-BASED: one `pg_dump --schema=brand_template` (DDL and the template's
rows: django_migrations, content types, permissions, roles), renamed by text substitution and
replayed by `--connections` psql processes at once (each fed brand by brand from its own thread;
one transaction per ~50 objects: the server's lock table is shared; a brand whose relations are
not all there is made again), then the Brand and Domain rows of every new schema by one
INSERT ... SELECT each. No Python round trip per table or per brand.

Stock on all N brands would take N × 0.8 s: it runs on `--stock-sample` brands (all when N is
smaller) and the per-brand figure is multiplied out, which stock's loop (one brand after the
other, nothing shared between them) makes exact to within the catalog's growth.

Reported: wall time, CPU of this process (and its children) and of its PostgreSQL backend (from
/proc, the machine's other load excluded), and the load average.
"""

import argparse
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings.dev")


def _database_url(brands: int, name: str | None = None) -> str:
    base = urlsplit(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/crm"))
    return urlunsplit(base._replace(path=f"/{name or f'hb_citus_mig_{brands}'}"))


def _psql_args(url: str) -> list[str]:
    return ["psql", url, "-X", "-q", "-v", "ON_ERROR_STOP=1"]


def _admin(url: str, sql: str) -> str:
    admin = urlunsplit(urlsplit(url)._replace(path="/postgres"))
    return subprocess.run([*_psql_args(admin), "-Atc", sql], check=True, capture_output=True, text=True).stdout


def _manage(url: str, *args: str) -> None:
    env = {**os.environ, "DATABASE_URL": url}
    subprocess.run(
        [sys.executable, "manage.py", *args], cwd=Path(__file__).resolve().parent.parent, env=env, check=True
    )


def _query(url: str, sql: str) -> list[str]:
    out = subprocess.run([*_psql_args(url), "-Atc", sql], check=True, capture_output=True, text=True).stdout
    return out.split()


def _brand_rows(url: str) -> None:
    # The brand and domain rows, set-based, with the fingerprints of the template they were cloned from.
    subprocess.run(
        [
            *_psql_args(url),
            "-c",
            "INSERT INTO tenancy_brand (schema_name, name, time_zone, contact_address, pi_contact, ready,"
            " admin_session_hours, created_at, updated_at, cell, read_only, migrations_fingerprint, models_fingerprint)"
            " SELECT n.nspname, 'B' || n.nspname, 'Asia/Shanghai', '', '', true, 12, now(), now(), b.cell, false,"
            " b.migrations_fingerprint, b.models_fingerprint"
            " FROM pg_namespace n, tenancy_brand b WHERE b.schema_name = 'b00001' AND n.nspname ~ '^b[0-9]{5}$'"
            " AND NOT EXISTS (SELECT FROM tenancy_brand x WHERE x.schema_name = n.nspname)",
            "-c",
            "INSERT INTO tenancy_domain (domain, is_primary, tenant_id)"
            " SELECT schema_name || '.localhost', true, id FROM tenancy_brand b WHERE schema_name ~ '^b[0-9]{5}$'"
            " AND NOT EXISTS (SELECT FROM tenancy_domain d WHERE d.tenant_id = b.id)",
            "-c",
            "VACUUM ANALYZE tenancy_brand, tenancy_domain",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def generate(url: str, brands: int, regenerate: bool, options_connections: int = 2) -> None:
    """Idempotent: what an interrupted run made is kept, only the missing brands are added."""
    name = urlsplit(url).path.strip("/")
    started = time.monotonic()
    if regenerate:
        _admin(url, f"DROP DATABASE IF EXISTS {name}")
    if _admin(url, f"SELECT 1 FROM pg_database WHERE datname = '{name}'").strip() != "1":
        # Start from the largest smaller one when there is one: a file copy of its brands.
        smaller = _admin(
            url,
            r"SELECT datname FROM pg_database WHERE datname ~ '^hb_citus_mig_[0-9]+$'"
            rf" AND substring(datname from 14)::int < {brands} ORDER BY substring(datname from 14)::int DESC LIMIT 1",
        ).strip()
        if smaller:
            _admin(url, f"CREATE DATABASE {name} TEMPLATE {smaller}")
        else:
            _admin(url, f"CREATE DATABASE {name}")
            _manage(url, "migrate_schemas", "--shared", "--noinput", "-v", "0")
    if not _query(url, "SELECT 1 FROM tenancy_brand WHERE schema_name = 'b00001'"):
        # One provisioned brand migrates the template (and is one of the N).
        _manage(
            url, "create_brand", "b00001", "--name", "B1", "--domain", "b00001.localhost", "--admin-email", "a@b1.ex"
        )
    # A brand is complete when it has the template's relations; a partial one (an interrupted run)
    # is dropped and made again.
    complete = set(
        _query(
            url,
            r"SELECT n.nspname FROM pg_namespace n JOIN pg_class c ON c.relnamespace = n.oid"
            r" WHERE n.nspname ~ '^b[0-9]{5}$' GROUP BY n.nspname HAVING count(*) ="
            r" (SELECT count(*) FROM pg_class WHERE relnamespace = 'brand_template'::regnamespace)",
        )
    )
    missing = [f"b{i:05d}" for i in range(2, brands + 1) if f"b{i:05d}" not in complete]
    if missing:
        dump = subprocess.run(
            ["pg_dump", url, "--schema=brand_template", "--no-owner", "--no-privileges"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        template = re.compile(r"\bbrand_template\b")
        # One transaction per ~50 objects (pg_dump heads each object with "-- Name: ..."): a brand
        # in one transaction would hold ~1,000 locks, and the server's lock table
        # (max_locks_per_transaction × max_connections) is shared with everyone else's work; one
        # statement a transaction sends a catalog invalidation to every backend per statement.
        objects = re.split(r"(?=\n--\n-- Name: )", dump)
        chunked = "".join(f"BEGIN;\n{''.join(objects[i : i + 50])}\nCOMMIT;\n" for i in range(0, len(objects), 50))
        print(
            f"template dump: {len(dump) // 1024} KiB; cloning {len(missing)} brands"
            f" on {options_connections} connections"
        )
        parts = [missing[k::options_connections] for k in range(options_connections)]

        def feed(part: list[str]) -> None:
            # One psql per part, fed brand by brand (a part's whole text would be ~400 KiB × brands).
            worker = subprocess.Popen(
                [*_psql_args(url), "-f", "-"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
            )
            assert worker.stdin is not None
            # No fsync per commit (a bench database); no NOTICE per brand.
            worker.stdin.write("SET synchronous_commit = off;\nSET client_min_messages = warning;\n")
            for schema in part:
                worker.stdin.write(f"DROP SCHEMA IF EXISTS {schema} CASCADE;\n" + template.sub(schema, chunked))
            worker.stdin.close()
            if worker.wait() != 0:
                raise SystemExit("psql failed")

        with ThreadPoolExecutor(len(parts)) as pool:
            list(pool.map(feed, parts))
    _brand_rows(url)
    count = _query(url, "SELECT count(*) FROM tenancy_brand WHERE schema_name ~ '^b[0-9]{5}$'")[0]
    print(f"{name}: {count} brands ({time.monotonic() - started:.0f} s to make the missing ones)")


def _backend_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(label: str, run) -> tuple[float, float, float]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    cpu0, pg0, t0 = sum(os.times()[:4]), _backend_cpu(pid), time.monotonic()
    run()
    wall = time.monotonic() - t0
    client = sum(os.times()[:4]) - cpu0
    try:
        server = _backend_cpu(pid) - pg0
    except FileNotFoundError:  # the run closed the connection: its backend is gone
        server = float("nan")
    print(f"{label:<44} wall {wall:8.2f} s   client CPU {client:7.2f} s   PostgreSQL CPU {server:7.2f} s")
    return wall, client, server


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--brands", type=int, default=1000)
    parser.add_argument("--stock-sample", type=int, default=100)
    parser.add_argument("--regenerate", action="store_true")
    parser.add_argument("--connections", type=int, default=2, help="psql processes making brand schemas")
    parser.add_argument("--database", help="the bench database (default hb_citus_mig_<N>); kept, grown to N brands")
    parser.add_argument(
        "--as-is", action="store_true", help="measure the brands hb_citus_mig_<N> holds now (an interrupted generation)"
    )
    options = parser.parse_args()
    url = _database_url(options.brands, options.database)
    if options.as_is:
        _brand_rows(url)
        options.brands = int(_query(url, "SELECT count(*) FROM tenancy_brand WHERE schema_name ~ '^b[0-9]{5}$'")[0])
    else:
        generate(url, options.brands, options.regenerate, options.connections)

    os.environ["DATABASE_URL"] = url
    import django

    django.setup()
    from django.core.management import call_command
    from django.core.management.commands.migrate import Command as MigrateCommand
    from django.db import transaction
    from django_tenants.migration_executors import get_executor

    from crm.tenancy.fingerprints import brands_migrate
    from crm.tenancy.models import Brand

    print(f"load average at start: {os.getloadavg()}")
    report = brands_migrate(processes=1)  # settles anything the generator left behind
    assert not report.failed, report.failed

    noop_wall, _, _ = measure(f"fingerprint no-op, {options.brands} brands", lambda: brands_migrate(processes=2))
    measure("migrate_brands command (shared + no-op)", lambda: call_command("migrate_brands", verbosity=0))

    sample = list(
        Brand.objects.exclude(schema_name="public").order_by("schema_name").values_list("schema_name", flat=True)
    )[: options.stock_sample]
    args: list[str] = []
    # The options migrate_schemas hands its executor: the migrate command's defaults.
    parser = MigrateCommand().create_parser("manage.py", "migrate")
    stock_options = {**vars(parser.parse_args([])), "verbosity": 0, "interactive": False, "skip_checks": True}

    def stock() -> None:
        # In one transaction: stock commits and reconnects after each brand, and a new backend per
        # brand would hide PostgreSQL's CPU from /proc; a few ms a brand, against ~0.8 s.
        with transaction.atomic():
            get_executor(codename="standard")(args, stock_options).run_migrations(tenants=list(sample))

    wall, client, _ = measure(f"stock migrate_schemas --tenant, {len(sample)} brands", stock)
    per_brand = wall / len(sample)
    print(
        f"stock per brand {per_brand:.3f} s wall, {client / len(sample):.3f} s client CPU -> "
        f"{options.brands} brands ≈ {per_brand * options.brands:.0f} s wall; "
        f"fingerprint {noop_wall:.2f} s: {per_brand * options.brands / max(noop_wall, 1e-3):.0f}× less"
    )
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
