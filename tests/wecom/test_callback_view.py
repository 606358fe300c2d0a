"""The callback URL through the test client, with bodies encrypted and signed by the fake
server's signer: verification, storage, idempotency, refusals, cross-brand isolation."""

import time

import pytest
from django_tenants.utils import schema_context

from wecom.models import CallbackEvent
from wecom.tasks import callback_event_process_task

from .conftest import AES_A, TOKEN_A

pytestmark = pytest.mark.django_db

URL = "/wecom/callback/"


def post(client, fake, xml: str, **envelope_kwargs):
    envelope = fake.envelope(xml, **envelope_kwargs)
    query = "&".join(f"{key}={value}" for key, value in envelope.query().items())
    return client.post(
        f"{URL}?{query}", data=envelope.callback_body(to_user_name=fake.corp_id), content_type="text/xml"
    )


def add_event_xml(fake, ext: str = "wmCustomer1", *, create_time: int = 1_760_000_000) -> str:
    return fake.event_xml(
        "add_external_contact",
        userid="zhangsan",
        external_userid=ext,
        create_time=create_time,
        State="store_sh001",
        WelcomeCode="WC1",
    )


def enqueued_event_ids(callbacks) -> list[int]:
    """The event ids handed to the processing task by the captured on-commit callbacks."""
    ids: list[int] = []
    for callback in callbacks:
        closure = [cell.cell_contents for cell in callback.__closure__ or ()]  # send_on_commit's lambda
        if any(value is callback_event_process_task for value in closure):
            ids.extend(arg for cell in closure if isinstance(cell, tuple) for arg in cell)
    return ids


def test_url_verification_answers_the_decrypted_echostr(config_a, client_a, fake):
    envelope = fake.crypt.encrypt("5927782489442352469", timestamp=str(int(time.time())))

    response = client_a.get(URL, {**envelope.query(), "echostr": envelope.encrypt})

    assert response.status_code == 200
    assert response.content == b"5927782489442352469"


def test_url_verification_with_a_bad_signature_is_refused(config_a, client_a, fake):
    envelope = fake.crypt.encrypt("5927782489442352469", timestamp=str(int(time.time())))

    response = client_a.get(URL, {**envelope.query(), "msg_signature": "0" * 40, "echostr": envelope.encrypt})

    assert response.status_code == 403
    assert b"5927782489442352469" not in response.content


def test_an_event_is_stored_and_handed_to_the_task_after_commit(
    config_a, client_a, fake, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = post(client_a, fake, add_event_xml(fake))

    assert response.status_code == 200 and response.content == b"success"
    event = CallbackEvent.objects.get()
    assert (event.change_type, event.user_id, event.external_user_id) == (
        "add_external_contact",
        "zhangsan",
        "wmCustomer1",
    )
    assert (event.state, event.welcome_code, event.status) == ("store_sh001", "WC1", CallbackEvent.Status.PENDING)
    assert int(event.event_time.timestamp()) == 1_760_000_000
    assert enqueued_event_ids(callbacks) == [event.pk]


def test_the_same_event_delivered_twice_is_one_row_and_one_task(
    config_a, client_a, fake, django_capture_on_commit_callbacks
):
    xml = add_event_xml(fake)
    with django_capture_on_commit_callbacks() as callbacks:
        first = post(client_a, fake, xml)
        # WeCom's re-delivery: same event, freshly encrypted (new random, nonce and signature).
        again = post(client_a, fake, xml)

    assert first.status_code == again.status_code == 200
    assert CallbackEvent.objects.count() == 1
    assert len(enqueued_event_ids(callbacks)) == 1


def test_a_replayed_request_is_refused(config_a, client_a, fake):
    envelope = fake.envelope(add_event_xml(fake))
    query = "&".join(f"{key}={value}" for key, value in envelope.query().items())
    body = envelope.callback_body()

    first = client_a.post(f"{URL}?{query}", data=body, content_type="text/xml")
    replay = client_a.post(f"{URL}?{query}", data=body, content_type="text/xml")

    assert first.status_code == 200
    assert replay.status_code == 403 and replay.content == b"replayed"
    assert CallbackEvent.objects.count() == 1


def test_a_stale_request_is_refused_and_stores_nothing(config_a, client_a, fake):
    response = post(client_a, fake, add_event_xml(fake), timestamp=str(int(time.time()) - 301))

    assert response.status_code == 403 and response.content == b"stale_timestamp"
    assert CallbackEvent.objects.count() == 0


def test_the_window_follows_the_setting(config_a, client_a, fake, settings):
    settings.WECOM_CALLBACK_MAX_AGE_SECONDS = 30

    response = post(client_a, fake, add_event_xml(fake), timestamp=str(int(time.time()) - 60))

    assert response.status_code == 403
    assert CallbackEvent.objects.count() == 0


def test_a_tampered_body_is_refused(config_a, client_a, fake):
    envelope = fake.envelope(add_event_xml(fake))
    query = "&".join(f"{key}={value}" for key, value in envelope.query().items())
    forged = envelope.callback_body().replace(envelope.encrypt[:8].encode(), b"AAAAAAAA")

    response = client_a.post(f"{URL}?{query}", data=forged, content_type="text/xml")

    assert response.status_code == 403 and response.content == b"bad_signature"
    assert CallbackEvent.objects.count() == 0


@pytest.mark.parametrize("body", [b"not xml", b"<xml><ToUserName>x</ToUserName></xml>"])
def test_a_malformed_body_is_a_400(config_a, client_a, fake, body):
    query = fake.envelope("<xml/>").query()
    response = client_a.post(
        URL + "?" + "&".join(f"{k}={v}" for k, v in query.items()), data=body, content_type="text/xml"
    )

    assert response.status_code == 400
    assert CallbackEvent.objects.count() == 0


def test_brand_a_url_refuses_a_callback_made_with_brand_b_keys(config_a, config_b, client_a, fake_b):
    response = post(client_a, fake_b, add_event_xml(fake_b))

    assert response.status_code == 403
    with schema_context("alpha"):
        assert CallbackEvent.objects.count() == 0
    with schema_context("beta"):
        assert CallbackEvent.objects.count() == 0


def test_brand_b_keys_are_accepted_on_brand_b_url_only(config_a, config_b, client_b, fake_b):
    response = post(client_b, fake_b, add_event_xml(fake_b))

    assert response.status_code == 200
    with schema_context("alpha"):
        assert CallbackEvent.objects.count() == 0
    with schema_context("beta"):
        assert CallbackEvent.objects.get().external_user_id == "wmCustomer1"


def test_another_corp_with_the_same_token_and_key_fails_the_receive_id_check(config_a, client_a, fake):
    from wecom.fake.server import FakeWecom

    impostor = FakeWecom(corp_id="wwImpostor", token=TOKEN_A, encoding_aes_key=AES_A)
    response = post(client_a, impostor, add_event_xml(impostor))

    assert response.status_code == 403 and response.content == b"bad_receive_id"
    assert CallbackEvent.objects.count() == 0
    # The same event from brand A's own corp (same token and key) is accepted: only the corp id
    # the impostor encrypted with was wrong.
    assert post(client_a, fake, add_event_xml(fake)).status_code == 200
    assert CallbackEvent.objects.count() == 1


def test_a_brand_without_wecom_answers_404(in_brand_a, client_a, fake):
    response = post(client_a, fake, add_event_xml(fake))

    assert response.status_code == 404
    assert CallbackEvent.objects.count() == 0


def test_only_get_and_post_are_allowed(config_a, client_a):
    assert client_a.put(URL).status_code == 405
