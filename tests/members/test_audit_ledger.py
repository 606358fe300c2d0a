"""`manage.py audit_ledger` exits 0 on a clean ledger and non-zero listing each drifted member;
a nightly job runs through the real celery path (broker → worker → the brand's schema)."""

import datetime as dt
import time

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from django_tenants.utils import schema_context

from crm.celery import app
from crm.jobs.models import JobRun
from members.models import Member, PointsEntry
from members.services.points import points_award_bonus
from tests.factories import MemberFactory

from .loyalty_scene import throwaway_brand

jobs_brand = throwaway_brand


def test_audit_passes_on_a_clean_ledger_and_fails_listing_drift(in_brand_a, capsys):
    member = MemberFactory(member_no="M0000001")
    points_award_bonus(member=member, points=50, reference="x", reason="x")

    call_command("audit_ledger", "--schema", "alpha")
    assert "[alpha] OK" in capsys.readouterr().out

    Member.objects.filter(pk=member.pk).update(points_balance=49)
    with pytest.raises(CommandError) as exc:
        call_command("audit_ledger")  # every brand: beta stays clean, alpha drifted
    captured = capsys.readouterr()
    assert exc.value.returncode == 1
    assert "M0000001" in captured.err and "entries=50" in captured.err
    assert "[beta] OK" in captured.out


def test_audit_refuses_an_unknown_schema(db):
    with pytest.raises(CommandError, match="no brand"):
        call_command("audit_ledger", "--schema", "nope")


@pytest.mark.worker
def test_nightly_expiry_runs_through_the_worker_in_each_brand(jobs_brand, celery_worker):
    with schema_context(jobs_brand.schema_name):
        member = MemberFactory()
        points_award_bonus(
            member=member,
            points=30,
            reference="old",
            reason="x",
            expires_at=timezone.now() - dt.timedelta(days=1),
        )

    # What run_in_every_brand (the beat entry's task) sends to each brand — here only to the
    # throw-away one, so the shared test brands get no committed job rows.
    app.send_task("members.expire_points", headers={"_schema_name": jobs_brand.schema_name})

    deadline = time.monotonic() + 60
    run = None
    while time.monotonic() < deadline and run is None:
        with schema_context(jobs_brand.schema_name):
            run = JobRun.objects.filter(name="members.expire_points", status=JobRun.Status.SUCCEEDED).first()
        time.sleep(0.3)
    assert run is not None, "the expiry job did not run in the brand"
    assert run.summary == {"members": 1, "points": 30}
    with schema_context(jobs_brand.schema_name):
        member.refresh_from_db()
        assert member.points_balance == 0
        assert PointsEntry.objects.get(member=member, kind="expire").points == -30
