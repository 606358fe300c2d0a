"""The nightly audit proves the current-state table agrees with the history, in every brand."""

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django_tenants.utils import schema_context

from consent.models import ConsentState, Purpose
from consent.tasks import consent_state_audit_nightly
from crm.jobs.models import JobRun
from tests.consent.conftest import enrolled

pytestmark = pytest.mark.django_db


def test_nightly_job_is_scheduled_for_every_brand():
    entry = settings.CELERY_BEAT_SCHEDULE["consent-state-audit"]
    assert entry["task"] == "tenancy.run_in_every_brand" and entry["args"] == ["consent.state_audit"]


def test_nightly_job_repairs_drift_from_the_history_and_records_it(agreements_a):
    member = enrolled(granted=[Purpose.MARKETING_SMS])
    ConsentState.objects.filter(member=member, purpose=Purpose.MARKETING_SMS).update(needs_reconsent=True)

    summary = consent_state_audit_nightly()

    assert summary == {"mismatches": 1, "repaired": 1}
    assert ConsentState.objects.get(member=member, purpose=Purpose.MARKETING_SMS).effective
    assert JobRun.objects.get(name="consent.state_audit").summary == summary


def test_command_fails_on_drift_without_repair(agreements_a):
    member = enrolled(granted=[Purpose.MARKETING_SMS])
    ConsentState.objects.filter(member=member, purpose=Purpose.MARKETING_SMS).update(granted=False)

    with pytest.raises(CommandError):
        call_command("consent_audit", schema="alpha")
    call_command("consent_audit", schema="alpha", repair=True)
    call_command("consent_audit", schema="alpha")
    with schema_context("beta"):
        call_command("consent_audit", schema="beta")
