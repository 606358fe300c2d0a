"""Whether a brand has WeCom configured is remembered by the process within partner API requests
(wecom/channels.py `wecom_configured`: a scan claim asked it four times). Configuring or removing
WeCom in this process is seen on the next request; in another process once its generation
arrives; outside an API request nothing remembered is used."""

from collections.abc import Callable

import pytest

from crm.api import remembered_keys
from crm.redis_cache import cache_key, cache_redis
from wecom.channels import wecom_configured
from wecom.models import WecomConfig
from wecom.services import wecom_config_save

from .conftest import AES_A, CORP_A, TOKEN_A

# What these tests are about exists only with production's Redis cache (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("redis_cache", "in_brand_a")


def in_api_request(question: Callable[[], bool]) -> bool:
    """Ask `question` inside a partner API request that has read the brand's generation, as the
    key check of every API request does."""
    with remembered_keys.api_request_scope():
        remembered_keys.api_key_current("unknown", "secret", read=lambda prefix: None)
        return question()


def configure() -> None:
    wecom_config_save(corp_id=CORP_A, secret="s", token=TOKEN_A, encoding_aes_key=AES_A)


def other_process_generation_arrives() -> None:
    client = cache_redis()
    assert client is not None, "the suite runs with Redis as the cache"
    remembered_keys._generation_renew(client, cache_key(remembered_keys.GENERATION))


def test_configuring_wecom_in_this_process_is_seen_on_the_next_request():
    assert in_api_request(wecom_configured) is False  # remembered: not configured

    configure()

    assert in_api_request(wecom_configured) is True


def test_removing_wecom_is_seen_on_the_next_request():
    configure()
    assert in_api_request(wecom_configured) is True

    WecomConfig.objects.get().delete()

    assert in_api_request(wecom_configured) is False


def test_wecom_configured_in_another_process_is_seen_once_its_generation_arrives():
    assert in_api_request(wecom_configured) is False
    # Another process saves the row: no signal reaches this process's memory.
    WecomConfig.objects.bulk_create(
        [WecomConfig(corp_id=CORP_A, secret_encrypted="x", token=TOKEN_A, encoding_aes_key=AES_A)]
    )
    assert in_api_request(wecom_configured) is False  # its commit has not told the brand yet

    other_process_generation_arrives()

    assert in_api_request(wecom_configured) is True


def test_outside_an_api_request_the_database_answers():
    assert in_api_request(wecom_configured) is False
    WecomConfig.objects.bulk_create(
        [WecomConfig(corp_id=CORP_A, secret_encrypted="x", token=TOKEN_A, encoding_aes_key=AES_A)]
    )

    assert wecom_configured() is True
