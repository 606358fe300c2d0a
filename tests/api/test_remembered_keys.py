"""API keys remembered by the process: no key query on a repeat request, yet every change to a key
or partner — in this process or, through the brand's key generation, in another — takes effect
on the next request."""

import pytest
import redis
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tenants.utils import schema_context

from crm.api import remembered_keys
from crm.api.models import ApiKey, Partner
from crm.api.services import api_key_revoke, api_key_verify
from crm.api.throttling import rate_window
from crm.redis_cache import cache_key, cache_redis

from .conftest import assert_problem, call, make_key

WEBHOOKS = "/api/v1/webhooks"
# What these tests are about exists only with production's Redis cache (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("redis_cache")


def key_queries(client, key: str) -> tuple[int, list[str]]:
    with CaptureQueriesContext(connection) as queries:
        status = call(client, "GET", WEBHOOKS, key=key).status_code
    return status, [q["sql"] for q in queries.captured_queries if "api_apikey" in q["sql"]]


def other_process_revokes(key: str) -> None:
    """What another process's revocation looks like from here: the row changes without this
    process's signals, then that process's after-commit write renews the brand's generation."""
    with schema_context("alpha"):
        ApiKey.objects.filter(prefix=key.split(".")[0]).update(revoked_at=timezone.now())


def other_process_commits(slug: str) -> None:
    with schema_context(slug):
        client = cache_redis()
        assert client is not None, "the suite runs with Redis as the cache"
        remembered_keys._generation_renew(client, cache_key(remembered_keys.GENERATION))


def test_a_repeat_request_does_not_read_the_key_again(client_a, key_a):
    first_status, first_reads = key_queries(client_a, key_a)
    second_status, second_reads = key_queries(client_a, key_a)

    assert (first_status, second_status) == (200, 200)
    assert len(first_reads) >= 1  # read once (and last_used_at written) ...
    assert second_reads == []  # ... then remembered


def test_a_change_in_another_process_takes_effect_once_its_generation_arrives(client_a, key_a):
    assert call(client_a, "GET", WEBHOOKS, key=key_a).status_code == 200
    other_process_revokes(key_a)

    # Before the other process's commit tells the brand, this process still has the key.
    assert call(client_a, "GET", WEBHOOKS, key=key_a).status_code == 200
    other_process_commits("alpha")

    assert_problem(call(client_a, "GET", WEBHOOKS, key=key_a), 401, "api_key_revoked")


def test_a_generation_renewed_in_the_other_brand_changes_nothing_here(client_a, key_a):
    call(client_a, "GET", WEBHOOKS, key=key_a)
    other_process_revokes(key_a)
    other_process_commits("beta")

    assert call(client_a, "GET", WEBHOOKS, key=key_a).status_code == 200


def test_a_lost_generation_write_is_bounded_by_the_remember_time(client_a, key_a, monkeypatch):
    monkeypatch.setattr(remembered_keys, "REMEMBER_SECONDS", -1)  # remembered keys are too old at once
    assert call(client_a, "GET", WEBHOOKS, key=key_a).status_code == 200
    other_process_revokes(key_a)  # and its generation write never arrives

    assert_problem(call(client_a, "GET", WEBHOOKS, key=key_a), 401, "api_key_revoked")


def test_changes_in_this_process_apply_at_once(client_a, key_a):
    call(client_a, "GET", WEBHOOKS, key=key_a)
    with schema_context("alpha"):
        api_key = ApiKey.objects.get(prefix=key_a.split(".")[0])
        api_key.scopes = ["members:read"]
        api_key.save(update_fields=["scopes"])

    assert_problem(call(client_a, "GET", WEBHOOKS, key=key_a), 403, "scope_missing")

    with schema_context("alpha"):
        api_key_revoke(api_key_id=api_key.pk)

    assert_problem(call(client_a, "GET", WEBHOOKS, key=key_a), 401, "api_key_revoked")


def test_a_renamed_partner_is_the_one_the_next_request_acts_for(client_a, key_a):
    call(client_a, "GET", WEBHOOKS, key=key_a)
    with schema_context("alpha"):
        partner = Partner.objects.get(api_keys__prefix=key_a.split(".")[0])
        partner.name = "新名字"
        partner.save(update_fields=["name"])

        assert api_key_verify(raw_key=key_a).partner.name == "新名字"


def test_a_key_change_renews_the_generation_only_when_it_commits(brand_a, django_capture_on_commit_callbacks):
    client = cache_redis()
    assert client is not None, "the suite runs with Redis as the cache"
    key = make_key("alpha")
    with schema_context("alpha"):
        slot = cache_key(remembered_keys.GENERATION)
        before = client.get(slot)
        with django_capture_on_commit_callbacks(execute=False) as pending:
            api_key_revoke(api_key_id=ApiKey.objects.get(prefix=key.split(".")[0]).pk)
        assert client.get(slot) == before  # not yet committed: nothing told
        for callback in pending:
            callback()
        assert client.get(slot) not in (before, None)


def test_without_redis_every_request_reads_the_key(client_a, key_a, monkeypatch):
    monkeypatch.setattr(remembered_keys, "cache_redis", lambda: None)
    call(client_a, "GET", WEBHOOKS, key=key_a)

    status, reads = key_queries(client_a, key_a)

    assert status == 200
    assert len(reads) == 1


def test_a_usual_request_makes_one_cache_call_and_is_counted_once(client_a, key_a, monkeypatch, rate_clock):
    # The count of 4 below is of one window: the clock stands still (a minute could end half-way).
    assert call(client_a, "GET", WEBHOOKS, key=key_a).status_code == 200  # read, remembered, counted
    commands: list[str] = []
    execute = redis.Redis.execute_command

    def counting(self, *args, **options):
        commands.append(args[0])
        return execute(self, *args, **options)

    monkeypatch.setattr(redis.Redis, "execute_command", counting)
    statuses = [call(client_a, "GET", WEBHOOKS, key=key_a).status_code for _ in range(3)]

    assert statuses == [200, 200, 200]
    assert commands == ["EVALSHA"] * 3  # the rate count and the key generation, together
    with schema_context("alpha"):
        window = rate_window(None, key_a.split(".")[0])
        assert cache_redis().get(cache_key(window.counter)) == b"4"
