"""The brand admin pages for WeCom: configuration with a write-only secret, events, follows."""

import pytest

from wecom.models import CallbackEvent, FollowRelation, WecomConfig

from .conftest import AES_A, CORP_A, TOKEN_A

pytestmark = pytest.mark.django_db

ADD_URL = "/admin/wecom/wecomconfig/add/"


def form(**overrides: str) -> dict[str, str]:
    data = {
        "corp_id": CORP_A,
        "secret": "the-real-secret-value",
        "token": TOKEN_A,
        "encoding_aes_key": AES_A,
        "api_base_url": "http://127.0.0.1:8765/cgi-bin/",
        "welcome_text": "",
    }
    return {**data, **overrides}


def test_config_is_created_in_chinese_and_the_secret_is_never_shown_again(admin_client_a, in_brand_a):
    page = admin_client_a.get(ADD_URL).content.decode()
    assert "企业 ID" in page and "应用 Secret" in page

    response = admin_client_a.post(ADD_URL, form())

    assert response.status_code == 302
    config = WecomConfig.objects.get()
    assert config.secret == "the-real-secret-value"
    assert "the-real-secret-value" not in config.secret_encrypted
    change_page = admin_client_a.get(f"/admin/wecom/wecomconfig/{config.pk}/change/").content.decode()
    assert "the-real-secret-value" not in change_page and "已设置" in change_page
    assert admin_client_a.get(ADD_URL).status_code == 403  # one configuration per brand


def test_an_empty_secret_on_edit_keeps_the_stored_one(admin_client_a, in_brand_a):
    admin_client_a.post(ADD_URL, form())
    config = WecomConfig.objects.get()

    response = admin_client_a.post(
        f"/admin/wecom/wecomconfig/{config.pk}/change/", form(secret="", corp_id="wwRenamed")
    )

    assert response.status_code == 302
    config.refresh_from_db()
    assert (config.corp_id, config.secret) == ("wwRenamed", "the-real-secret-value")


@pytest.mark.parametrize(
    ("field", "value"),
    [("encoding_aes_key", AES_A[:42]), ("token", "has spaces!"), ("secret", ""), ("api_base_url", "not a url")],
)
def test_bad_input_is_refused_and_changes_nothing(admin_client_a, in_brand_a, field, value):
    response = admin_client_a.post(ADD_URL, form(**{field: value}))

    assert response.status_code == 200  # the form again, with the error
    assert response.context["adminform"].form.errors.get(field)
    assert not WecomConfig.objects.exists()


def test_event_and_follow_lists_filter_and_search(admin_client_a, in_brand_a):
    from django.utils import timezone

    now = timezone.now()
    CallbackEvent.objects.create(
        natural_key="k1",
        event="change_external_contact",
        change_type="add_external_contact",
        user_id="zhangsan",
        external_user_id="wmFindMe",
        event_time=now,
        status=CallbackEvent.Status.FAILED,
    )
    CallbackEvent.objects.create(
        natural_key="k2",
        event="change_external_contact",
        change_type="del_follow_user",
        user_id="lisi",
        external_user_id="wmOther",
        event_time=now,
    )
    FollowRelation.objects.create(external_userid="wmFindMe", staff_userid="zhangsan", unionid="oU1", added_at=now)

    found = admin_client_a.get("/admin/wecom/callbackevent/?q=wmFindMe").content.decode()
    filtered = admin_client_a.get("/admin/wecom/callbackevent/?change_type=del_follow_user").content.decode()
    failed = admin_client_a.get("/admin/wecom/callbackevent/?status=failed").content.decode()
    follows = admin_client_a.get("/admin/wecom/followrelation/?active=yes&q=oU1").content.decode()

    assert "wmFindMe" in found and "wmOther" not in found
    assert "wmOther" in filtered and "wmFindMe" not in filtered
    assert "wmFindMe" in failed and "wmOther" not in failed
    assert "wmFindMe" in follows and "客户关系" in follows


def test_the_retry_action_requeues_only_failed_events(admin_client_a, in_brand_a, django_capture_on_commit_callbacks):
    from django.utils import timezone

    failed = CallbackEvent.objects.create(
        natural_key="f",
        event="change_external_contact",
        change_type="add_external_contact",
        event_time=timezone.now(),
        status=CallbackEvent.Status.FAILED,
        error="boom",
    )
    done = CallbackEvent.objects.create(
        natural_key="d",
        event="change_external_contact",
        change_type="add_external_contact",
        event_time=timezone.now(),
        status=CallbackEvent.Status.PROCESSED,
    )

    with django_capture_on_commit_callbacks() as callbacks:
        admin_client_a.post(
            "/admin/wecom/callbackevent/", {"action": "retry_failed", "_selected_action": [failed.pk, done.pk]}
        )

    failed.refresh_from_db()
    done.refresh_from_db()
    assert failed.status == CallbackEvent.Status.PENDING and failed.error == ""
    assert done.status == CallbackEvent.Status.PROCESSED
    assert len(callbacks) == 1


def test_brand_b_admin_does_not_see_brand_a_config(admin_client_a, admin_client_b, in_brand_a):
    admin_client_a.post(ADD_URL, form())

    page = admin_client_b.get("/admin/wecom/wecomconfig/").content.decode()

    assert CORP_A not in page
