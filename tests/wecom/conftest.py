"""Fixtures for the WeCom layer: the fake WeCom server on a real socket, and brand configurations
pointing at it."""

import uuid
from collections.abc import Iterator

import pytest
from django_tenants.utils import schema_context

from crm.db import connection
from crm.tenancy.models import Brand
from tests.members.loyalty_scene import throwaway_brand
from wecom.client import WecomClient
from wecom.fake.server import FakeWecom, FakeWecomServer
from wecom.models import WecomConfig
from wecom.services import wecom_config_save

CORP_A = "wwAlphaCorp0001"
CORP_B = "wwBetaCorp00002"
TOKEN_A = "AlphaToken123"
TOKEN_B = "BetaToken456"
AES_A = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
AES_B = "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvut"


@pytest.fixture
def secret_a() -> str:
    # Unique per test: the token cache key includes the secret's hash, so a token cached by an
    # earlier test (against another fake server) is never picked up, even with a Redis cache.
    return f"alpha-secret-{uuid.uuid4().hex}"


@pytest.fixture
def fake(secret_a: str) -> FakeWecom:
    """Brand A's corp, with small pages so every paginated call really paginates."""
    corp = FakeWecom(corp_id=CORP_A, secret=secret_a, token=TOKEN_A, encoding_aes_key=AES_A, page_size=2)
    corp.add_staff("zhangsan", "张三")
    corp.add_staff("lisi", "李四")
    corp.add_staff("wangwu", "王五")
    return corp


@pytest.fixture
def fake_b() -> FakeWecom:
    return FakeWecom(corp_id=CORP_B, secret="beta-secret", token=TOKEN_B, encoding_aes_key=AES_B)


@pytest.fixture
def fake_server(fake: FakeWecom) -> Iterator[FakeWecomServer]:
    server = FakeWecomServer(fake).start()
    yield server
    server.stop()


@pytest.fixture
def config_a(in_brand_a, fake_server: FakeWecomServer, secret_a: str) -> WecomConfig:
    """Brand A's WeCom app, pointing at the fake; the connection stays in brand A."""
    return wecom_config_save(
        corp_id=CORP_A, secret=secret_a, token=TOKEN_A, encoding_aes_key=AES_A, api_base_url=fake_server.base_url
    )


@pytest.fixture
def config_b(brand_b) -> WecomConfig:
    """Brand B's WeCom app (different corp, token and key), created in brand B's schema; the
    connection returns to wherever it was."""
    with schema_context(brand_b.schema_name):
        return wecom_config_save(corp_id=CORP_B, secret="beta-secret", token=TOKEN_B, encoding_aes_key=AES_B)


# A brand of its own for tests that commit (consent records and the ledger cannot be deleted).
committed_brand = throwaway_brand


@pytest.fixture
def wecom_brand(committed_brand: Brand, fake_server: FakeWecomServer, secret_a: str) -> Iterator[Brand]:
    """For tests that commit (a real worker reads what they write): a brand of its own, dropped
    afterwards, with its WeCom app pointing at the fake; the connection stays in it."""
    connection.set_tenant(committed_brand)
    wecom_config_save(
        corp_id=CORP_A, secret=secret_a, token=TOKEN_A, encoding_aes_key=AES_A, api_base_url=fake_server.base_url
    )
    yield committed_brand
    connection.set_schema_to_public()


@pytest.fixture
def client_api(config_a: WecomConfig) -> Iterator[WecomClient]:
    with WecomClient.for_config(config_a, timeout=2.0) as api:
        yield api
