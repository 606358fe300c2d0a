"""Behind PgBouncer in transaction mode (DATABASE_POOL_MODE=transaction) each transaction may run on
another server connection: nothing of the app may outlive its transaction, and the brand's
search_path must be one the pooler carries over (docs/scale-out.md "PgBouncer in front of Citus")."""

import os
import subprocess
import sys
from types import SimpleNamespace

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, connections
from django.test import override_settings

import coupons.services
from coupons.models import Coupon
from coupons.services import coupons_issue_bulk
from crm.db.backend.base import search_path_reported_or_refuse
from crm.db.locks import MEMBER_IMPORT, session_advisory_lock
from tests.autocommit import outside_a_transaction
from tests.coupons.scene import audit_clean, template
from tests.factories import MemberFactory


def settings_read(**env: str) -> subprocess.CompletedProcess[str]:
    code = (
        "import crm.settings.test as s; "
        "print(s.DATABASE_POOL_MODE, {a: d['DISABLE_SERVER_SIDE_CURSORS'] for a, d in sorted(s.DATABASES.items())})"
    )
    environment = {**os.environ, **env, "DJANGO_SETTINGS_MODULE": "crm.settings.test"}
    return subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True, check=False)


def test_transaction_mode_turns_server_side_cursors_off_on_every_cell():
    cell = "b=postgres://postgres@127.0.0.1:5432/other"
    pooled = settings_read(DATABASE_POOL_MODE="transaction", CELL_URLS=cell)
    assert pooled.returncode == 0, pooled.stderr
    assert pooled.stdout.strip() == "transaction {'cell_b': True, 'default': True}"
    direct = settings_read(DATABASE_POOL_MODE="session", CELL_URLS=cell)
    assert direct.stdout.strip() == "session {'cell_b': False, 'default': False}"
    wrong = settings_read(DATABASE_POOL_MODE="statement")
    assert wrong.returncode != 0
    assert "DATABASE_POOL_MODE must be session or transaction" in wrong.stderr


def test_a_session_lock_is_refused_on_a_transaction_pooled_connection(in_brand_a):
    with (
        override_settings(DATABASE_POOL_MODE="transaction"),
        pytest.raises(ImproperlyConfigured, match="session"),
        session_advisory_lock(MEMBER_IMPORT, 1),
    ):
        pass
    with connection.cursor() as cursor:  # nothing was taken
        cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()")
        assert cursor.fetchone()[0] == 0
    with override_settings(DATABASE_POOL_MODE="session"), session_advisory_lock(MEMBER_IMPORT, 1) as locked:
        assert locked  # direct or session-pooled: as before


def test_transaction_mode_needs_a_server_that_reports_search_path(db):
    connection.ensure_connection()
    if connection.connection.info.parameter_status("search_path") is None:
        # Plain PostgreSQL 15: PgBouncer could not carry a brand's search_path over.
        with pytest.raises(ImproperlyConfigured, match="session mode"):
            search_path_reported_or_refuse(connection.connection)
    else:  # a Citus coordinator (12+), directly or through PgBouncer with search_path tracked
        search_path_reported_or_refuse(connection.connection)
    citus = SimpleNamespace(info=SimpleNamespace(parameter_status=lambda name: '"$user", public'))
    search_path_reported_or_refuse(citus)


def test_every_connection_attempt_is_refused_not_only_the_first(db):
    """The refusal drops the connection it was checking: were it kept, the next request would find
    it open and read through it, another brand's search_path and all."""
    probe = connections.create_connection("default")
    try:
        probe.ensure_connection()
        reported = probe.connection.info.parameter_status("search_path") is not None
        probe.close()
        with override_settings(DATABASE_POOL_MODE="transaction"):
            for _attempt in range(3):
                if reported:  # a Citus coordinator: transaction mode is allowed, every time
                    probe.ensure_connection()
                    assert probe.connection is not None
                    continue
                with pytest.raises(ImproperlyConfigured, match="session mode"):
                    probe.ensure_connection()
                assert probe.connection is None
    finally:
        probe.close()


def test_a_bulk_issue_commits_chunk_by_chunk_behind_a_transaction_pooler(in_brand_a, monkeypatch):
    """Nothing of an issue outlives a transaction (its batches are array parameters, no temporary
    table), so behind a transaction pooler too each chunk is its own transaction."""
    members = MemberFactory.create_batch(5)
    tpl = template(stock_total=10)
    segment = ("SELECT unnest(%s::bigint[])", [[m.pk for m in members]])
    depths: list[int] = []
    real_chunk = coupons.services._issue_chunk

    def chunk(**kwargs):
        depths.append(len(connection.savepoint_ids) - outside)
        return real_chunk(**kwargs)

    monkeypatch.setattr(coupons.services, "_issue_chunk", chunk)
    outside = len(connection.savepoint_ids)  # the test's own
    pooled = override_settings(DATABASE_POOL_MODE="transaction")
    with pooled, outside_a_transaction(monkeypatch, coupons.services) as opened:
        result = coupons_issue_bulk(
            template_id=tpl.pk, members=segment, source="campaign", source_key="c:1", actor="c", chunk_size=2
        )
    assert result.issued_now == 5
    assert len(opened) == 3  # one per chunk
    assert depths == [0, 0, 0]  # none inside another
    assert Coupon.objects.filter(template=tpl).count() == 5
    audit_clean()
