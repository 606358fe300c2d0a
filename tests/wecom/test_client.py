"""The WeCom client against the fake WeCom server over real HTTP: token caching and refresh,
every fault path, pagination to the end, typed errors."""

import httpx
import pytest
from django.core.cache import cache

from wecom import errors
from wecom.client import WecomClient
from wecom.fake.server import FakeWecom, FakeWecomServer
from wecom.models import WecomConfig

pytestmark = pytest.mark.django_db


def seed_customers(fake: FakeWecom, staff: str, count: int, prefix: str = "wm") -> list[str]:
    ids = []
    for index in range(count):
        ext = f"{prefix}{staff}{index:03d}"
        fake.add_contact(ext, f"客户{index}", unionid=f"union-{ext}")
        fake.add_follow(staff, ext, state="store_sh001")
        ids.append(ext)
    return ids


def test_one_gettoken_serves_many_calls(fake, client_api):
    for _ in range(5):
        client_api.get_follow_user_list()

    assert fake.calls["gettoken"] == 1
    assert fake.calls["externalcontact/get_follow_user_list"] == 5


def test_the_token_is_shared_through_the_cache_by_every_client_of_the_brand(fake, config_a, client_api):
    client_api.get_follow_user_list()
    with WecomClient.for_config(config_a) as another_process:
        another_process.get_follow_user_list()

    assert fake.calls["gettoken"] == 1


def test_the_token_is_cached_per_brand(fake, config_a, client_api, brand_b):
    from django_tenants.utils import schema_context

    client_api.get_follow_user_list()
    with schema_context(brand_b.schema_name), WecomClient.for_config(config_a) as same_corp_other_brand:
        same_corp_other_brand.get_follow_user_list()

    assert fake.calls["gettoken"] == 2


@pytest.mark.parametrize("expire", ["early_40014", "expired_42001"])
def test_a_rejected_token_is_refreshed_once_and_the_call_succeeds(fake, client_api, expire):
    client_api.get_follow_user_list()
    if expire == "early_40014":
        fake.expire_tokens()  # WeCom invalidated it before expires_in
    else:
        fake.advance(fake.token_ttl + 1)  # cached longer than WeCom honours it

    assert client_api.get_follow_user_list() == ["zhangsan", "lisi", "wangwu"]
    assert fake.calls["gettoken"] == 2
    assert fake.calls["externalcontact/get_follow_user_list"] == 2 + 1  # one rejected, one retried


def test_a_token_rejected_twice_raises_instead_of_looping(fake, client_api):
    fake.inject("externalcontact/get_follow_user_list", errcode=40014, times=5)

    with pytest.raises(errors.AccessTokenInvalid):
        client_api.get_follow_user_list()
    assert fake.calls["gettoken"] == 2
    assert fake.calls["externalcontact/get_follow_user_list"] == 2


def test_a_bad_secret_raises_40001_once_without_looping(fake, fake_server, in_brand_a):
    api = WecomClient(corp_id=fake.corp_id, secret="wrong", base_url=fake_server.base_url)
    with pytest.raises(errors.InvalidCredential) as raised:
        api.get_follow_user_list()

    assert raised.value.errcode == 40001
    assert fake.calls["gettoken"] == 1
    assert fake.calls["externalcontact/get_follow_user_list"] == 0


@pytest.mark.parametrize("errcode", [45009, 45033])
def test_rate_limits_raise_a_typed_retryable_error(fake, client_api, errcode):
    fake.inject("externalcontact/list", errcode=errcode)

    with pytest.raises(errors.RateLimited) as raised:
        client_api.list_external_contacts("zhangsan")

    assert raised.value.errcode == errcode and raised.value.retryable
    assert fake.calls["externalcontact/list"] == 1  # no hot loop: the task retries later


def test_server_errors_raise_a_retryable_transport_error(fake, client_api):
    fake.inject("externalcontact/list", http_status=502)

    with pytest.raises(errors.WecomTransportError) as raised:
        client_api.list_external_contacts("zhangsan")

    assert raised.value.retryable
    assert client_api.list_external_contacts("zhangsan") == []  # the next attempt goes through


def test_a_slow_server_times_out_as_a_retryable_transport_error(fake, config_a):
    fake.inject("externalcontact/list", delay=1.0)

    with (
        WecomClient.for_config(config_a, timeout=0.3) as impatient,
        pytest.raises(errors.WecomTransportError) as raised,
    ):
        impatient.list_external_contacts("zhangsan")

    assert raised.value.retryable and "timeout" in raised.value.errmsg


def test_an_unreachable_server_is_a_retryable_transport_error(in_brand_a):
    api = WecomClient(corp_id="ww", secret="s", base_url="http://127.0.0.1:9/cgi-bin/", timeout=0.5)
    with pytest.raises(errors.WecomTransportError):
        api.get_follow_user_list()


@pytest.mark.parametrize(
    ("errcode", "error_class"),
    [
        (48002, errors.NoPermission),
        (60020, errors.UntrustedIp),
        (84061, errors.NoRelationship),
        (12345, errors.WecomApiError),
    ],
)
def test_other_errcodes_raise_typed_errors_carrying_errcode_and_errmsg(fake, client_api, errcode, error_class):
    fake.inject("externalcontact/get_follow_user_list", errcode=errcode)

    with pytest.raises(error_class) as raised:
        client_api.get_follow_user_list()

    assert type(raised.value) is error_class
    assert raised.value.errcode == errcode and raised.value.errmsg == "injected fault"
    assert not raised.value.retryable


def test_batch_get_by_user_follows_the_cursor_to_the_end(fake, client_api):
    ids = seed_customers(fake, "zhangsan", 7) + seed_customers(fake, "lisi", 2)

    rows = client_api.batch_get_by_user(["zhangsan", "lisi"])

    assert sorted(row["external_contact"]["external_userid"] for row in rows) == sorted(ids)
    assert fake.calls["externalcontact/batch/get_by_user"] == 5  # pages of 2
    assert {row["follow_info"]["state"] for row in rows} == {"store_sh001"}


def test_get_external_contact_collects_every_follow_user_page(fake, client_api):
    fake.add_contact("wmShared", "共享客户", unionid="oUnionShared")
    for staff in ("zhangsan", "lisi", "wangwu"):
        fake.add_follow(staff, "wmShared", remark=f"{staff} 的客户")

    data = client_api.get_external_contact("wmShared")

    assert data["external_contact"]["unionid"] == "oUnionShared"
    assert sorted(f["userid"] for f in data["follow_user"]) == ["lisi", "wangwu", "zhangsan"]
    assert fake.calls["externalcontact/get"] == 2


def test_a_repeating_cursor_raises_instead_of_looping_forever(client_api):
    def always_page_two(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("gettoken"):
            return httpx.Response(200, json={"errcode": 0, "access_token": "t", "expires_in": 7200})
        return httpx.Response(200, json={"errcode": 0, "customer": [{"external_userid": "x"}], "next_cursor": "2"})

    looping = WecomClient(corp_id="ww-loop", secret="s", transport=httpx.MockTransport(always_page_two))
    with pytest.raises(errors.WecomProtocolError):
        looping.transfer_result(handover_userid="a", takeover_userid="b")


def test_list_and_unknown_external_userid(fake, client_api):
    ids = seed_customers(fake, "wangwu", 3)

    assert client_api.list_external_contacts("wangwu") == ids
    with pytest.raises(errors.InvalidExternalUserid):
        client_api.get_external_contact("wmNobody")


def test_corp_tags_lifecycle_and_mark_tag(fake, client_api):
    [customer] = seed_customers(fake, "zhangsan", 1)

    group = client_api.add_corp_tag(group_name="会员等级", tags=[{"name": "金卡"}, {"name": "银卡"}])
    gold, silver = (tag["id"] for tag in group["tag"])
    client_api.mark_tag(userid="zhangsan", external_userid=customer, add_tag=[gold])
    client_api.edit_corp_tag(id=silver, name="白银")

    assert [t["name"] for t in client_api.get_corp_tag_list()[0]["tag"]] == ["金卡", "白银"]
    tags = client_api.get_external_contact(customer)["follow_user"][0]["tags"]
    assert [(t["group_name"], t["tag_name"]) for t in tags] == [("会员等级", "金卡")]
    with pytest.raises(errors.NoRelationship):  # the customer must follow that staff member
        client_api.mark_tag(userid="lisi", external_userid=customer, add_tag=[gold])

    client_api.del_corp_tag(tag_ids=[gold, silver])
    assert client_api.get_corp_tag_list() == []  # an empty group disappears


def test_contact_way_state_comes_back_in_the_add_callback(fake, client_api):
    way = client_api.add_contact_way(state="store_sh001_spring", users=["zhangsan"])

    event = fake.customer_adds("zhangsan", "wmScanner", unionid="oScanner", config_id=way["config_id"])

    assert way["qr_code"].startswith("https://")
    assert event["State"] == "store_sh001_spring"
    assert "<State><![CDATA[store_sh001_spring]]></State>" in event["xml"]
    with pytest.raises(errors.WecomApiError) as too_long:
        client_api.add_contact_way(state="x" * 31, users=["zhangsan"])
    assert too_long.value.errcode == 40058


def test_welcome_message_is_accepted_once_within_20_seconds(fake, client_api):
    first = fake.customer_adds("zhangsan", "wmA")
    late = fake.customer_adds("zhangsan", "wmB")
    client_api.send_welcome_msg(welcome_code=first["WelcomeCode"], text="欢迎")

    with pytest.raises(errors.WelcomeAlreadyDelivered):
        client_api.send_welcome_msg(welcome_code=first["WelcomeCode"], text="欢迎")
    fake.advance(21)
    with pytest.raises(errors.WelcomeAlreadyDelivered):
        client_api.send_welcome_msg(welcome_code=late["WelcomeCode"], text="欢迎")
    assert fake.welcomes_sent == [(first["WelcomeCode"], "欢迎")]


def test_the_config_secret_is_encrypted_at_rest(config_a, secret_a):
    stored = WecomConfig.objects.values_list("secret_encrypted", flat=True).get()

    assert secret_a not in stored
    assert WecomConfig.objects.get().secret == secret_a


def test_fake_server_answers_unknown_calls_with_an_error(fake_server: FakeWecomServer, client_api):
    with pytest.raises(errors.WecomApiError) as raised:
        client_api.call("GET", "externalcontact/does_not_exist")
    assert raised.value.errcode == 404
    assert cache.get(client_api._token_key)  # the token is still cached: only the call failed


def test_errors_survive_pickling_for_celery():
    import pickle

    error = errors.error_for(45009, "api freq out of limit", path="externalcontact/get")
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301  (our own object)

    assert type(copy) is errors.RateLimited
    assert (copy.errcode, copy.errmsg, copy.path, copy.retryable) == (
        45009,
        "api freq out of limit",
        "externalcontact/get",
        True,
    )
