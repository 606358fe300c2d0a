"""Issue 21, finding 2, as the attack: a brand admin points 企业微信配置 › API 地址 at our own
network (the client would send corpsecret there), or the API answers a javascript: "QR code".
Production refuses private addresses (EGRESS_ALLOW_PRIVATE_HOSTS off); tests and dev turn the
switch on for the fake server on 127.0.0.1."""

import socket
from typing import Any

import pytest

from crm.errors import AppError
from wecom.client import WecomClient
from wecom.errors import WecomProtocolError
from wecom.fake import server as fake_server_module
from wecom.models import ContactWay, WecomConfig
from wecom.services import wecom_config_save

from .conftest import AES_A, CORP_A, TOKEN_A
from .scene import scene_create

pytestmark = pytest.mark.django_db

INTERNAL = [
    "http://127.0.0.1:6379/",
    "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.5/cgi-bin/",
    "http://localhost:8765/cgi-bin/",
    "http://[::1]:8000/",
]


def config_form(api_base_url: str) -> dict[str, str]:
    return {
        "corp_id": CORP_A,
        "secret": "the-real-secret-value",
        "token": TOKEN_A,
        "encoding_aes_key": AES_A,
        "api_base_url": api_base_url,
        "welcome_text": "",
    }


@pytest.mark.parametrize("url", INTERNAL)
def test_an_internal_api_address_is_refused_in_the_config_form_in_production(admin_client_a, in_brand_a, settings, url):
    settings.EGRESS_ALLOW_PRIVATE_HOSTS = False

    response = admin_client_a.post("/admin/wecom/wecomconfig/add/", config_form(url))

    assert response.status_code == 200  # the form again, with the error
    [error] = response.context["adminform"].form.errors["api_base_url"]
    assert "内网" in error
    assert not WecomConfig.objects.exists()


def test_the_service_refuses_an_internal_api_address_too(in_brand_a, settings):
    settings.EGRESS_ALLOW_PRIVATE_HOSTS = False

    with pytest.raises(AppError) as refused:
        wecom_config_save(
            corp_id=CORP_A, secret="s", token=TOKEN_A, encoding_aes_key=AES_A, api_base_url="http://127.0.0.1:6379/"
        )

    assert "api_base_url" in refused.value.fields
    assert not WecomConfig.objects.exists()


def test_an_address_saved_before_is_refused_at_call_time_and_the_secret_never_leaves(config_a, settings):
    """A configuration saved while the switch was on (or a name that resolves inward since): the
    client checks the address again and connects to nothing."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.3)
    try:
        WecomConfig.objects.update(api_base_url=f"http://127.0.0.1:{listener.getsockname()[1]}/cgi-bin/")
        settings.EGRESS_ALLOW_PRIVATE_HOSTS = False

        with pytest.raises(WecomProtocolError) as refused, WecomClient.for_config(WecomConfig.objects.get()) as client:
            client.access_token(force_refresh=True)

        with pytest.raises(TimeoutError):
            listener.accept()  # no connection came: corpsecret went nowhere
    finally:
        listener.close()
    assert refused.value.retryable is False  # the configuration is wrong; retrying cannot help


def test_the_fake_server_on_loopback_still_works_with_the_development_switch(config_a, settings):
    settings.EGRESS_ALLOW_PRIVATE_HOSTS = True

    with WecomClient.for_config(config_a) as client:
        assert client.get_follow_user_list()


def test_an_oversized_api_answer_is_a_protocol_error_not_a_memory_spike(config_a, settings):
    settings.WECOM_API_MAX_RESPONSE_BYTES = 10  # every real answer is larger

    with pytest.raises(WecomProtocolError, match="too large"), WecomClient.for_config(config_a) as client:
        client.access_token(force_refresh=True)


@pytest.mark.parametrize("qr_code", ["javascript:alert(document.cookie)", "http://evil.example/qr.png"])
def test_a_qr_code_that_is_not_https_is_shown_as_text_not_a_link(config_a, admin_client_a, fake, monkeypatch, qr_code):
    scene = scene_create()

    def hostile_add_contact_way(corp: Any, query: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        return {"config_id": "cfg-hostile", "qr_code": qr_code}

    monkeypatch.setitem(fake_server_module.ROUTES, "externalcontact/add_contact_way", hostile_add_contact_way)
    response = admin_client_a.post(
        "/admin/wecom/contactway/add/",
        {"name": "活动", "state": "hostile", "store": scene.store.pk, "staff": [scene.zhangsan.pk]},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    way = ContactWay.objects.get()
    assert way.qr_code == qr_code

    for page in (
        admin_client_a.get("/admin/wecom/contactway/").content.decode(),
        admin_client_a.get(f"/admin/wecom/contactway/{way.pk}/change/").content.decode(),
    ):
        assert f'href="{qr_code}"' not in page
        assert qr_code in page  # shown, as text


def test_an_https_qr_code_is_still_a_link(config_a, admin_client_a, fake):
    scene = scene_create()
    admin_client_a.post(
        "/admin/wecom/contactway/add/",
        {"name": "活动", "state": "fine", "store": scene.store.pk, "staff": [scene.zhangsan.pk]},
    )
    way = ContactWay.objects.get()

    assert f'href="{way.qr_code}"' in admin_client_a.get("/admin/wecom/contactway/").content.decode()


def test_every_task_that_calls_wecom_has_celery_time_limits():
    from celery import Task

    from campaigns import tasks as campaign_tasks
    from wecom import tasks as wecom_tasks

    calling_out = [t for t in vars(wecom_tasks).values() if isinstance(t, Task)]
    calling_out += [
        campaign_tasks.send_chunk,
        campaign_tasks.send_occurrence_messages,
        campaign_tasks.poll_wecom_results,
    ]
    assert len(calling_out) >= 9
    for task in calling_out:
        assert 0 < task.soft_time_limit < task.time_limit, task.name
