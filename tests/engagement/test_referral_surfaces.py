"""Referral surfaces: a friend opens the invite link, signs in on the member centre and joins —
the invitation is bound in the enrolment; the referrer's page and the partner API show each
invitation's status and reason with the invitee masked; the brand admin's list is masked and
exports the graph; racing reward tasks (separate connections) grant once per side."""

import json
from urllib.parse import urlsplit

import httpx
from django_tenants.utils import schema_context

from consent.models import Purpose
from engagement.models import Referral, ReferralCampaign, ReferralExport
from engagement.services.referral import referral_link_get, referral_reward
from engagement.services.referral_export import referral_export_run
from membercentre.services.links import member_centre_link_path
from members.models import Identity, Member, PointsEntry
from members.services.points import ledger_audit
from tests.api.conftest import call, make_key
from tests.consent.conftest import agreements_a  # noqa: F401 - fixture used by member_a
from tests.membercentre.conftest import PHONE, fake_wechat, member_a, wechat_a  # noqa: F401 - fixtures
from tests.members.loyalty_scene import program, throwaway_brand
from tests.members.test_ledger_concurrency import run_in_threads

from .scene import rules
from .test_referral import buy, campaign, person

race_brand = throwaway_brand


def _follow_wechat(client, server) -> None:
    start = client.get("/m/login/wechat/")
    wechat = httpx.get(start["Location"], follow_redirects=False)  # the fake WeChat server, real HTTP
    back = urlsplit(wechat.headers["Location"])
    client.get(f"{back.path}?{back.query}", **PHONE)


def test_a_friend_opens_the_link_joins_and_the_referrer_sees_why(member_a, wechat_a, fake_wechat, client_a):  # noqa: F811
    program()
    rules()
    campaign(name="好友同享", invitee_reward_amount=30)
    token = referral_link_get(member=member_a, device="referrerdevice").token
    landing = client_a.get(f"/m/i/{token}/", **PHONE)
    page = landing.content.decode()
    assert landing.status_code == 200 and "邀请您成为" in page and "30 积分" in page and "¥50.00" in page
    assert member_a.name not in page  # the referrer is masked to strangers too
    assert client_a.get("/m/i/nosuchtoken/").status_code == 404

    fake_wechat.fake.queue_user("oFriend0001", "uFriend0001")
    _follow_wechat(client_a, fake_wechat)
    done = client_a.post("/m/join/", {"name": "李雷", "purpose": [Purpose.MEMBERSHIP]}, **PHONE)
    assert done.status_code == 302
    friend = Identity.objects.get(kind="wechat_unionid", value="uFriend0001").member
    referral = Referral.objects.get(invitee=friend)
    assert referral.referrer_id == member_a.pk and referral.status == Referral.Status.JOINED

    referrer_client = client_a.__class__(HTTP_HOST=client_a.defaults["HTTP_HOST"])
    referrer_client.get(member_centre_link_path(member_id=member_a.pk))
    home = referrer_client.get("/m/", **PHONE).content.decode()
    assert 'href="/m/invites/"' in home and "已邀请 1 人" in home  # the 邀请有礼 tile, no longer a placeholder
    mine = referrer_client.get("/m/invites/", **PHONE)
    text = mine.content.decode()
    assert mine.status_code == 200
    assert "邀请好友" in text and token in text and "<svg" in text
    assert "李*" in text and "李雷" not in text and "已入会，待首单" in text
    assert "已邀请 1" in text and "您的邀请已被打开 1 次" in text  # the friend's browser opened it
    assert 'src="/m/invites/poster.png"' in text
    poster = referrer_client.get("/m/invites/poster.png", **PHONE)
    assert poster.status_code == 200 and poster["Content-Type"] == "image/png"
    assert poster.content.startswith(b"\x89PNG") and token.encode() not in poster.content  # drawn, not text
    assert client_a.__class__(HTTP_HOST=client_a.defaults["HTTP_HOST"]).get("/m/invites/poster.png").status_code == 302


def test_the_partner_api_makes_the_link_and_lists_invitations(in_brand_a, client_a, brand_a):
    program()
    rules()
    campaign()
    referrer = person("u-ref")
    friend = person("u-new", name="韩梅梅")
    key = make_key(brand_a.schema_name)
    made = call(client_a, "POST", f"/api/v1/members/{referrer.member_no}/referral-link", key=key, body={})
    again = call(client_a, "POST", f"/api/v1/members/{referrer.member_no}/referral-link", key=key, body={})
    assert made.status_code == 200, made.content
    token = json.loads(made.content)["token"]
    assert json.loads(again.content)["token"] == token and len(token) <= 32
    assert json.loads(made.content)["path"] == f"/m/i/{token}/"
    from engagement.services.referral import referral_bind

    referral_bind(invitee=friend, token=token, device="d-friend")
    listed = call(client_a, "GET", f"/api/v1/members/{referrer.member_no}/referrals", key=key)
    assert listed.status_code == 200
    [row] = json.loads(listed.content)["results"]
    assert row["status"] == "joined" and row["status_label"] == "已入会，待首单"
    assert row["stage"] == "invited" and row["stage_label"] == "已邀请"
    assert row["invitee"].startswith("韩*") and "韩梅梅" not in row["invitee"]


def test_the_brand_admin_sees_masked_invitations_and_exports_the_graph(admin_client_a, in_brand_a):
    program()
    rules()
    campaign()
    referrer = person("u-ref", name="王大锤")
    friend = person("u-new", name="韩梅梅")
    from engagement.services.referral import referral_bind

    referral_bind(invitee=friend, token=referral_link_get(member=referrer).token, device="d")
    page = admin_client_a.get("/admin/engagement/referral/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "已入会，待首单" in text and friend.member_no in text
    settings_page = admin_client_a.get("/admin/engagement/referralcampaign/add/")
    assert settings_page.status_code == 200 and "只有一级邀请" in settings_page.content.decode()
    # The export for a regulator is queued from the graph page and built in the background
    # (test_referral_export.py); the list links to it.
    assert "/admin/engagement/referralexport/" in text
    queued = admin_client_a.post("/admin/engagement/referral/graph/", {"format": "csv"})
    assert queued.status_code == 302
    export = ReferralExport.objects.get()
    referral_export_run(export_id=export.pk)
    export.refresh_from_db()
    rows = bytes(export.content).decode("utf-8-sig").splitlines()
    assert rows[0].startswith("邀请人,受邀人,层级") and ",1," in rows[1]


def test_the_campaign_form_takes_yuan_and_allows_one_active_campaign(admin_client_a, in_brand_a):
    form = {
        "name": "双十一邀请",
        "active": "on",
        "qualifying": "first_order",
        "min_order_yuan": "88.50",
        "hold_days": "7",
        "attribution_days": "7",
        "referrer_reward_kind": "points",
        "referrer_reward_amount": "100",
        "invitee_reward_kind": "points",
        "invitee_reward_amount": "50",
        "cap_per_day": "0",
        "cap_per_month": "10",
        "cap_lifetime": "0",
        "budget": "0",
    }
    assert admin_client_a.post("/admin/engagement/referralcampaign/add/", form).status_code == 302
    assert ReferralCampaign.objects.get().min_order_fen == 8_850
    second = admin_client_a.post("/admin/engagement/referralcampaign/add/", {**form, "name": "另一个"})
    assert second.status_code == 200 and "同一时间只能启用一个" in second.content.decode()


def test_racing_reward_tasks_grant_each_side_once(race_brand):
    with schema_context(race_brand.schema_name):
        program()
        rules()
        campaign()
        referrer = person("u-ref")
        invitee = person("u-new")
        from engagement.services.referral import referral_bind

        referral = referral_bind(invitee=invitee, token=referral_link_get(member=referrer).token, device="d")
        buy("O1", 10_000, "u-new")
        assert Referral.objects.get(pk=referral.pk).status == Referral.Status.QUALIFIED

    errors = run_in_threads(race_brand, [lambda: referral_reward(referral_id=referral.pk)] * 8)
    assert errors == []
    with schema_context(race_brand.schema_name):
        assert Referral.objects.get(pk=referral.pk).status == Referral.Status.REWARDED
        for member, points in ((referrer, 100), (invitee, 50)):
            entries = PointsEntry.objects.filter(member_id=member.pk, reference__startswith="referral:")
            assert list(entries.values_list("points", flat=True)) == [points]
        assert ReferralCampaign.objects.get().budget_used == 1
        assert Member.objects.get(pk=referrer.pk).points_balance == 100
        assert ledger_audit() == []


def test_the_referral_graph_page_shows_depth_rewards_and_reversals_and_exports_xlsx(admin_client_a, in_brand_a):
    import io

    from openpyxl import load_workbook

    from engagement.services.referral import referral_bind

    program()
    rules()
    campaign()
    referrer = person("u-ref", name="王大锤")
    friend = person("u-new", name="=HYPERLINK(韩梅梅)")
    grandchild = person("u-gc", name="李雷")
    referral_bind(invitee=friend, token=referral_link_get(member=referrer).token, device="d1")
    # The friend invites someone too: a second, separate one-level edge — never a chain.
    referral_bind(invitee=grandchild, token=referral_link_get(member=friend).token, device="d2")
    Referral.objects.filter(invitee=friend).update(
        status=Referral.Status.REVERSED, reason="首单已退款（R1），奖励已撤回"
    )
    listing = admin_client_a.get("/admin/engagement/referral/").content.decode()
    assert "/admin/engagement/referral/graph/" in listing
    page = admin_client_a.get("/admin/engagement/referral/graph/")
    text = page.content.decode()
    assert page.status_code == 200 and "邀请关系图" in text and "只有一级" in text
    assert "已撤回" in text and "首单已退款（R1），奖励已撤回" in text and "已邀请" in text
    assert text.count('<td class="num">1</td>') == 2  # each edge depth 1: the grandchild is not 2
    one = admin_client_a.get("/admin/engagement/referral/graph/", {"referrer": referrer.member_no}).content.decode()
    assert grandchild.member_no not in one and referrer.member_no in one
    assert 'name="format" value="xlsx"' in text and "在后台生成" in text  # the export is a POST

    def exported(file_format: str) -> bytes:
        assert admin_client_a.post("/admin/engagement/referral/graph/", {"format": file_format}).status_code == 302
        export = ReferralExport.objects.get(file_format=file_format)
        referral_export_run(export_id=export.pk)  # the task's body (the broker path: test_referral_export.py)
        export.refresh_from_db()
        return bytes(export.content)

    rows = list(load_workbook(io.BytesIO(exported("xlsx"))).active.iter_rows(values_only=True))
    assert rows[0][:3] == ("邀请人", "受邀人", "层级") and {r[2] for r in rows[1:]} == {1}
    assert all(not str(cell).startswith("=") for row in rows for cell in row if cell)  # inert cells
    csv_rows = exported("csv").decode("utf-8-sig")
    assert len(csv_rows.splitlines()) == 3 and "已撤回" in csv_rows
