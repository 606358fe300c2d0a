"""The whole flow with a real celery worker: the fake corp's customer scans a QR code, the signed
callback reaches brand A's URL, the worker processes it in brand A's schema and fetches the
contact from the fake over HTTP, and a follow relation with the unionid and state appears."""

import time

import pytest
from django_tenants.utils import schema_context

from tests.conftest import BRAND_A, BRAND_B, brand_host, host_client
from wecom.models import CallbackEvent, FollowRelation, WecomConfig
from wecom.services import wecom_config_save

from .conftest import AES_A, CORP_A, TOKEN_A

pytestmark = pytest.mark.worker


def wait_for_relation(external_userid: str, timeout: float = 30.0) -> FollowRelation:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with schema_context(BRAND_A):
            relation = FollowRelation.objects.filter(external_userid=external_userid).first()
        if relation is not None:
            return relation
        time.sleep(0.2)
    raise AssertionError(f"no follow relation for {external_userid} within {timeout}s")


@pytest.fixture
def committed_config_a(committed_db, fake_server, secret_a):
    with schema_context(BRAND_A):
        wecom_config_save(
            corp_id=CORP_A, secret=secret_a, token=TOKEN_A, encoding_aes_key=AES_A, api_base_url=fake_server.base_url
        )
    yield
    with schema_context(BRAND_A):
        FollowRelation.objects.all().delete()
        CallbackEvent.objects.all().delete()
        WecomConfig.objects.all().delete()


def test_qr_scan_to_follow_relation_through_the_worker(celery_worker, committed_config_a, fake):
    way = fake.api_add_contact_way({}, {"type": 1, "scene": 2, "state": "campaign_0808", "user": ["zhangsan"]})
    event = fake.customer_adds("zhangsan", "wmEndToEnd", name="周女士", unionid="oUnionE2E", config_id=way["config_id"])
    envelope = fake.envelope(event["xml"])
    query = "&".join(f"{key}={value}" for key, value in envelope.query().items())

    response = host_client(brand_host(BRAND_A)).post(
        f"/wecom/callback/?{query}", data=envelope.callback_body(), content_type="text/xml"
    )

    assert response.status_code == 200 and response.content == b"success"
    relation = wait_for_relation("wmEndToEnd")
    assert (relation.staff_userid, relation.unionid, relation.state, relation.name) == (
        "zhangsan",
        "oUnionE2E",
        "campaign_0808",
        "周女士",
    )
    with schema_context(BRAND_A):
        assert CallbackEvent.objects.get().status == CallbackEvent.Status.PROCESSED
    with schema_context(BRAND_B):
        assert not FollowRelation.objects.exists()
