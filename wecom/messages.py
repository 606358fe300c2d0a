"""Group messages to customers (`add_msg_template`, chat_type single): each goes out through the
customer's own staff member, who confirms it in WeCom. Shared by the campaign outbox and by
engagement's check-in reminders, so both send the same text with the same footer."""

from collections.abc import Sequence
from dataclasses import dataclass

from consent.services import brand_url

from .client import WecomClient
from .errors import WecomError
from .models import WecomConfig

WECOM_FOOTER = "\n\n不想再收到此类消息？点击管理授权或退订：{url}"


def wecom_text(body: str) -> str:
    """A WeCom group message's text: the body and a footer linking to the member centre's
    preferences (one text for every customer of a staff member, so the footer is not personal:
    in WeChat the member is signed in with one tap of web authorisation)."""
    return body + WECOM_FOOTER.format(url=brand_url("/m/me/preferences/"))


@dataclass(frozen=True)
class GroupMessage:
    reference: int  # the caller's row id
    sender: str  # the staff member's WeCom userid
    external_userid: str
    body: str


@dataclass(frozen=True)
class GroupOutcome:
    msgid: str
    error: str  # "" when WeCom took it; else why not, in words


def group_messages_send(messages: Sequence[GroupMessage]) -> dict[int, GroupOutcome]:
    """One add_msg_template per sender and body (WeCom takes up to 10,000 customers a call; the
    caller sends in smaller batches). Customers on WeCom's fail_list are reported as refused."""
    config = WecomConfig.objects.first()
    if config is None:
        return {m.reference: GroupOutcome(msgid="", error="本品牌尚未配置企业微信") for m in messages}
    groups: dict[tuple[str, str], list[GroupMessage]] = {}
    for message in messages:
        groups.setdefault((message.sender, message.body), []).append(message)
    outcomes: dict[int, GroupOutcome] = {}
    with WecomClient.for_config(config) as client:
        for (sender, body), same in groups.items():
            try:
                result = client.add_msg_template(
                    sender=sender, external_userids=[m.external_userid for m in same], text=wecom_text(body)
                )
            except WecomError as exc:
                # Not retried: whether WeCom queued it is unknown, and a member must not get it twice.
                for m in same:
                    outcomes[m.reference] = GroupOutcome(msgid="", error=f"企业微信调用失败：{exc}"[:255])
                continue
            failed = set(result["fail_list"])
            for m in same:
                error = "企业微信拒收（不是该导购的好友或已达上限）" if m.external_userid in failed else ""
                outcomes[m.reference] = GroupOutcome(msgid=result["msgid"], error=error)
    return outcomes
