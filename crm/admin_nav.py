"""The brand back office's sidebar: pages grouped for the people who use them, each with an icon,
shown only to those whose role may view it (the model's view permission).

Plain data (model labels and URL names), so the kernel names the apps' pages without importing
them. BrandAdminSite hands it to django-unfold (crm/admin_sites.py); icons are Material Symbols
shipped with the theme (no CDN).
"""

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse

# (group title, [(title, icon, "app_label.model")]); "app_label.model:view" links the model admin's
# own page `admin:<app_label>_<model>_<view>` instead of its list (same view permission).
GROUPS: list[tuple[str, list[tuple[str, str, str]]]] = [
    (
        "会员",
        [
            ("会员", "person", "members.member"),
            ("订单", "receipt_long", "members.order"),
            ("身份标识", "badge", "members.identity"),
            ("标签", "sell", "members.tag"),
            ("会员合并", "merge", "members.membermerge"),
        ],
    ),
    (
        "积分与等级",
        [
            ("会员等级", "workspace_premium", "members.tier"),
            ("积分规则", "tune", "members.loyaltyprogram"),
            ("积分流水", "list_alt", "members.pointsentry"),
            ("积分调整审批", "approval", "members.pointsadjustrequest"),
            ("礼品", "redeem", "members.reward"),
            ("兑换记录", "card_giftcard", "members.redemption"),
            ("会员捕获率", "query_stats", "members.captureratedaily"),
        ],
    ),
    (
        "优惠券",
        [
            ("优惠券模板", "confirmation_number", "coupons.coupontemplate"),
            ("优惠券报表", "bar_chart", "coupons.coupontemplate:report"),
            ("优惠券", "local_activity", "coupons.coupon"),
            ("核销记录", "fact_check", "coupons.couponredemption"),
            ("发券审批", "approval", "coupons.couponissuerequest"),
            ("到期提醒", "notifications", "coupons.couponreminder"),
            ("优惠券设置", "tune", "coupons.couponsettings"),
        ],
    ),
    (
        "授权",
        [
            ("协议", "description", "consent.agreement"),
            ("协议版本", "history_edu", "consent.agreementversion"),
            ("授权状态", "verified_user", "consent.consentstate"),
            ("授权记录", "fact_check", "consent.consentrecord"),
            ("授权会话", "qr_code_2", "consent.consentsession"),
            ("个人信息请求", "assignment_ind", "consent.datarequest"),
            ("个人信息访问日志", "visibility", "consent.piaccesslog"),
        ],
    ),
    (
        "企业微信",
        [
            ("我的会员", "groups", "wecom.mymember"),
            ("客户关系", "handshake", "wecom.followrelation"),
            ("潜在客户", "person_search", "wecom.wecomprospect"),
            ("客户转接", "swap_horiz", "wecom.customertransfer"),
            ("离职交接", "move_up", "wecom.staffhandover"),
            ("归属复核", "rule", "wecom.ownershipreview"),
            ("渠道活码", "qr_code", "wecom.contactway"),
            ("分配设置", "alt_route", "wecom.assignmentsettings"),
            ("企业微信配置", "settings_applications", "wecom.wecomconfig"),
            ("回调事件", "webhook", "wecom.callbackevent"),
        ],
    ),
    (
        "营销活动",
        [
            ("营销活动", "campaign", "campaigns.campaign"),
            ("活动执行", "event_repeat", "campaigns.occurrence"),
            ("消息发送", "outbox", "campaigns.outboxmessage"),
        ],
    ),
    (
        "会员互动",
        [
            ("互动规则", "tune", "engagement.engagementsettings"),
            ("连续签到奖励", "event_available", "engagement.checkinladderstep"),
            ("签到提醒记录", "notifications_active", "engagement.checkinreminder"),
            ("生日礼", "cake", "engagement.birthdaybenefit"),
            ("邀请有礼活动", "group_add", "engagement.referralcampaign"),
            ("邀请记录", "person_add", "engagement.referral"),
            ("邀请关系图", "account_tree", "engagement.referral:graph"),
            ("邀请关系导出", "download", "engagement.referralexport"),
        ],
    ),
    (
        "一物一码",
        [
            ("扫码活动", "qr_code_scanner", "scancodes.scancampaign"),
            ("码批次", "inventory_2", "scancodes.codebatch"),
            ("码段", "view_week", "scancodes.segment"),
            ("领取记录", "redeem", "scancodes.claim"),
            ("扫码记录", "history", "scancodes.scan"),
            ("窜货预警", "warning", "scancodes.diversionalert"),
            ("经销商", "local_shipping", "scancodes.dealer"),
        ],
    ),
    (
        "导购业绩",
        [
            ("业绩报表与导出", "leaderboard", "performance.reportexport"),
            ("订单业绩归属", "assignment_turned_in", "performance.attribution"),
            ("导购触达", "touch_app", "performance.touch"),
            ("分享链接/海报", "share", "performance.sharelink"),
            ("业绩归属规则", "rule_settings", "performance.attributionrule"),
            ("导购本人身份", "badge", "performance.staffidentity"),
        ],
    ),
    (
        "开放接口",
        [
            ("合作方", "corporate_fare", "api.partner"),
            ("API 密钥", "key", "api.apikey"),
            ("Webhook 订阅", "webhook", "webhooks.webhooksubscription"),
            ("Webhook 投递", "send", "webhooks.webhookdelivery"),
        ],
    ),
    (
        "设置",
        [
            ("门店", "storefront", "members.store"),
            ("导购", "support_agent", "members.staff"),
            ("用户", "manage_accounts", "auth.user"),
            ("角色（用户组）", "group", "auth.group"),
            ("看板设置", "dashboard_customize", "dashboard.dashboardsettings"),
            ("会员中心微信授权", "settings_applications", "membercentre.wechatoauthconfig"),
            ("登录锁定", "lock_person", "logins.lockedlogin"),
            ("后台任务", "pending_actions", "jobs.jobrun"),
        ],
    ),
]


def can_view(label: str) -> Callable[[HttpRequest], bool]:
    app_label, model = label.split(":")[0].split(".")

    def permission(request: HttpRequest) -> bool:
        user = request.user
        return bool(user.is_active and user.is_staff and user.has_perm(f"{app_label}.view_{model}"))

    permission.__name__ = f"can_view_{app_label}_{model}"
    return permission


# A page one app adds to another app's object (发券 opened from a member's page lives under the
# coupon admin's URLs) names the entry it belongs to, for the person: request.<this> = "members.member".
SIDEBAR_ENTRY_ATTR = "sidebar_entry"


def sidebar_entry_mark(request: HttpRequest, label: str) -> None:
    """Mark `label`'s sidebar entry (an "app_label.model" of GROUPS) as the current page's."""
    setattr(request, SIDEBAR_ENTRY_ATTR, label)


def _is_active(label: str, link: str, links: list[str]) -> Callable[[HttpRequest], bool]:
    """The entry the page declared, else the entry whose link is the longest prefix of the path:
    优惠券报表 (/coupons/coupontemplate/report/) is not also 优惠券模板 (/coupons/coupontemplate/)."""

    def active(request: HttpRequest) -> bool:
        declared = getattr(request, SIDEBAR_ENTRY_ATTR, None)
        if declared is not None:
            return bool(declared == label)
        matching = [other for other in links if request.path.startswith(other)]
        return bool(matching) and max(matching, key=len) == link

    return active


def brand_navigation(registered: set[str]) -> list[dict[str, Any]]:
    """The sidebar groups of the models registered on the brand site (a page of an app not
    installed is left out)."""
    groups, links = [], []
    for title, items in GROUPS:
        entries = []
        for item_title, icon, label in items:
            model_label, _, view = label.partition(":")
            if model_label not in registered:
                continue
            app_label, model = model_label.split(".")
            try:
                link = reverse(f"admin:{app_label}_{model}_{view or 'changelist'}")
            except NoReverseMatch:
                continue
            links.append(link)
            entries.append(
                {
                    "title": item_title,
                    "icon": icon,
                    "link": link,
                    "permission": can_view(label),
                    "active": _is_active(label, link, links),
                }
            )
        if entries:
            groups.append({"title": title, "separator": True, "collapsible": True, "items": entries})
    return groups
