"""A fake WeCom server that ships with the project: tests and the demo talk to it over real HTTP.

It implements the API subset of WECOM.md with state a reader can follow:

    FakeWecom                       the corp: one app (corp id + secret), callback token/key
      .staff[userid]                Staff: name, resigned?, customer_limit
      .contacts[external_userid]    Contact: name, unionid, gender
      .follows[(userid, ext)]       Follow: who follows whom, remark, state, add_way, tags
      .tag_groups[group_id]         TagGroup with tags
      .contact_ways[config_id]      ContactWay (channel QR code with a `state`)
      .transfers                    Transfer: handover → takeover of one customer, status over time
      .messages[msgid]              GroupMessage: a group message job and its per-customer results
      .tokens[token]                expiry of each access token issued
      .faults                       injected faults, consumed in order (errcode, 5xx, delay)
      .outbox                       callbacks generated (and posted when callback_url is set)

Time is simulated: `advance(seconds)` moves the corp's clock, which is how tokens expire and how
transfers move from waiting (2) to done (1) / refused (3) / takeover at limit (4) without waiting
24 hours. Test helpers (`customer_adds`, `customer_deletes_staff`, ...) act as the people on
the other side of WeCom and generate the callbacks WeCom would send, signed and encrypted.

Run it standalone with `python manage.py fake_wecom --port 8765`; a small control API under
`/_fake/` (state, advance, add customer) lets the demo drive it with curl.
"""

import itertools
import json
import logging
import secrets
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit, urlunsplit

import httpx

from ..crypto import Envelope, WXBizMsgCrypt

logger = logging.getLogger(__name__)

DEMO_CORP_ID = "ww0000demo0000corp"
DEMO_SECRET = "demo-app-secret-not-for-production"  # noqa: S105  (the fake corp's demo credentials, public by design)
DEMO_TOKEN = "DemoCallbackToken2026"  # noqa: S105
DEMO_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"

DAY = 86400
TRANSFER_WINDOW = 90 * DAY  # at most 2 transfers per customer per 90 days
TRANSFERS_PER_WINDOW = 2


class FakeApiError(Exception):
    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(errmsg)
        self.errcode = errcode
        self.errmsg = errmsg


@dataclass
class Staff:
    userid: str
    name: str
    resigned_at: float | None = None
    customer_limit: int = 50000


@dataclass
class Contact:
    external_userid: str
    name: str
    unionid: str = ""
    gender: int = 0
    type: int = 1  # 1 WeChat user, 2 WeCom user


@dataclass
class Follow:
    userid: str
    external_userid: str
    createtime: int
    remark: str = ""
    state: str = ""
    add_way: int = 1  # 1 scanned a QR code
    tag_ids: list[str] = field(default_factory=list)


@dataclass
class Tag:
    id: str
    name: str
    order: int = 0


@dataclass
class TagGroup:
    group_id: str
    group_name: str
    order: int = 0
    tags: list[Tag] = field(default_factory=list)


@dataclass
class ContactWay:
    config_id: str
    state: str
    users: list[str]
    type: int
    qr_code: str


@dataclass
class Transfer:
    """One customer moving from handover to takeover staff."""

    handover: str
    takeover: str
    external_userid: str
    resigned: bool
    started_at: float
    status: int = 2  # 1 done, 2 waiting, 3 refused, 4 takeover at customer limit
    takeover_time: int = 0


@dataclass
class GroupMessage:
    msgid: str
    sender: str
    external_userids: list[str]
    text: str
    created_at: float
    sent_at: float | None = None  # set when the staff member confirms sending in the app
    results: dict[str, int] = field(default_factory=dict)  # external_userid → status


@dataclass
class Fault:
    """One injected fault for `path` ("*" = any call, gettoken included)."""

    path: str
    errcode: int | None = None
    http_status: int | None = None
    delay: float = 0.0
    times: int = 1


class FakeWecom:
    """The state of one fake corp. Thread-safe: every request holds `lock` while it touches state."""

    def __init__(
        self,
        *,
        corp_id: str = DEMO_CORP_ID,
        secret: str = DEMO_SECRET,
        token: str = DEMO_TOKEN,
        encoding_aes_key: str = DEMO_AES_KEY,
        page_size: int = 100,
        token_ttl: int = 7200,
        msg_limit: int = 4,
        msg_limit_period: int = 30 * DAY,
        transfer_settle_after: int = DAY,
        callback_url: str = "",
    ) -> None:
        self.corp_id = corp_id
        self.secret = secret
        self.crypt = WXBizMsgCrypt(token=token, encoding_aes_key=encoding_aes_key, receive_id=corp_id)
        self.page_size = page_size
        self.token_ttl = token_ttl
        self.msg_limit = msg_limit
        self.msg_limit_period = msg_limit_period
        self.transfer_settle_after = transfer_settle_after
        self.callback_url = callback_url
        self.lock = threading.RLock()
        self.offset = 0.0
        self.staff: dict[str, Staff] = {}
        self.contacts: dict[str, Contact] = {}
        self.follows: dict[tuple[str, str], Follow] = {}
        self.tag_groups: dict[str, TagGroup] = {}
        self.contact_ways: dict[str, ContactWay] = {}
        self.transfers: list[Transfer] = []
        self.refusers: set[str] = set()  # customers who will refuse a transfer
        self.messages: dict[str, GroupMessage] = {}
        self.welcome_codes: dict[str, tuple[float, bool]] = {}  # code → (issued at, used)
        self.welcomes_sent: list[tuple[str, str]] = []  # (welcome_code, text)
        self.tokens: dict[str, float] = {}
        self.faults: list[Fault] = []
        self.calls: Counter[str] = Counter()
        self.outbox: list[dict[str, str]] = []
        self.callback_responses: list[int] = []
        self._to_post: list[str] = []
        self._post_lock = threading.Lock()
        self._ids = itertools.count(1)

    # --- time ---------------------------------------------------------------------------------------

    def now(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        """Move the corp's clock forward; transfers settle as WeCom would after that much time."""
        with self.lock:
            self.offset += seconds
            self._settle_transfers()
        self.flush_callbacks()

    def _next_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):06d}"

    # --- the people on the other side (also used to seed state) ----------------------------------

    def add_staff(self, userid: str, name: str = "", *, customer_limit: int = 50000) -> Staff:
        with self.lock:
            staff = self.staff[userid] = Staff(userid=userid, name=name or userid, customer_limit=customer_limit)
            return staff

    def resign(self, userid: str) -> None:
        with self.lock:
            self.staff[userid].resigned_at = self.now()

    def add_contact(self, external_userid: str, name: str = "", *, unionid: str = "", gender: int = 0) -> Contact:
        with self.lock:
            contact = Contact(
                external_userid=external_userid, name=name or external_userid, unionid=unionid, gender=gender
            )
            self.contacts[external_userid] = contact
            return contact

    def add_follow(
        self, userid: str, external_userid: str, *, state: str = "", remark: str = "", add_way: int = 1
    ) -> Follow:
        """A relation that exists already (seeding): no callback."""
        with self.lock:
            follow = Follow(
                userid=userid,
                external_userid=external_userid,
                createtime=int(self.now()),
                state=state,
                remark=remark,
                add_way=add_way,
            )
            self.follows[(userid, external_userid)] = follow
            return follow

    def customer_adds(
        self,
        userid: str,
        external_userid: str,
        *,
        name: str = "",
        unionid: str = "",
        state: str = "",
        config_id: str = "",
    ) -> dict[str, str]:
        """A customer scans a QR code (of `config_id`, whose state is used) or adds `userid`:
        WeCom creates the follow and sends `add_external_contact` with State and WelcomeCode."""
        with self.lock:
            if config_id:
                state = self.contact_ways[config_id].state
            if external_userid not in self.contacts:
                self.add_contact(external_userid, name, unionid=unionid)
            self.add_follow(userid, external_userid, state=state)
            welcome_code = secrets.token_hex(16)
            self.welcome_codes[welcome_code] = (self.now(), False)
            event = self.emit(
                "add_external_contact",
                userid=userid,
                external_userid=external_userid,
                State=state,
                WelcomeCode=welcome_code,
            )
        self.flush_callbacks()
        return event

    def staff_edits_remark(self, userid: str, external_userid: str, remark: str) -> dict[str, str]:
        with self.lock:
            self.follows[(userid, external_userid)].remark = remark
            event = self.emit("edit_external_contact", userid=userid, external_userid=external_userid)
        self.flush_callbacks()
        return event

    def staff_deletes_customer(self, userid: str, external_userid: str) -> dict[str, str]:
        with self.lock:
            self.follows.pop((userid, external_userid), None)
            event = self.emit("del_external_contact", userid=userid, external_userid=external_userid)
        self.flush_callbacks()
        return event

    def customer_deletes_staff(self, userid: str, external_userid: str) -> dict[str, str]:
        """The customer deletes the staff member (单向删除): WeCom sends del_follow_user."""
        with self.lock:
            self.follows.pop((userid, external_userid), None)
            event = self.emit("del_follow_user", userid=userid, external_userid=external_userid)
        self.flush_callbacks()
        return event

    # --- callbacks ----------------------------------------------------------------------------------

    def event_xml(
        self, change_type: str, *, userid: str, external_userid: str, create_time: int | None = None, **extra: str
    ) -> str:
        fields = {
            "ToUserName": self.corp_id,
            "FromUserName": "sys",
            "CreateTime": str(create_time if create_time is not None else int(self.now())),
            "MsgType": "event",
            "Event": "change_external_contact",
            "ChangeType": change_type,
            "UserID": userid,
            "ExternalUserID": external_userid,
            **{key: value for key, value in extra.items() if value},
        }
        inner = "".join(f"<{key}><![CDATA[{value}]]></{key}>" for key, value in fields.items())
        return f"<xml>{inner}</xml>"

    def envelope(self, xml: str, *, timestamp: str | None = None, nonce: str | None = None) -> Envelope:
        """Encrypt and sign as WeCom does, with the real wall-clock timestamp by default (the
        portal refuses stale ones)."""
        return self.crypt.encrypt(xml, timestamp=timestamp or str(int(time.time())), nonce=nonce)

    def emit(self, change_type: str, *, userid: str, external_userid: str, **extra: str) -> dict[str, str]:
        """Queue (and, with a callback_url, post) one callback. Returns the event fields."""
        # Stamped now; `extra` holds event fields (State, WelcomeCode, ...).
        xml = self.event_xml(change_type, userid=userid, external_userid=external_userid, create_time=None, **extra)
        event = {"ChangeType": change_type, "UserID": userid, "ExternalUserID": external_userid, "xml": xml, **extra}
        self.outbox.append(event)
        if self.callback_url:
            self._to_post.append(xml)
        return event

    def flush_callbacks(self) -> None:
        """Post queued callbacks, in order, outside `lock`: the portal may call the API while a
        callback is in flight, and holding the state lock across an HTTP call would stall it."""
        with self._post_lock:
            while True:
                with self.lock:
                    if not self._to_post:
                        return
                    xml = self._to_post.pop(0)
                self.post_callback(xml)

    def post_callback(self, xml: str) -> int:
        """POST a signed, encrypted callback to `callback_url`; returns the HTTP status (0 when the
        portal is unreachable: like WeCom, the fake does not crash because the portal is down).
        `*.localhost` is sent to 127.0.0.1 with the Host header kept, so the portal routes it to
        the right brand."""
        envelope = self.envelope(xml)
        parts = urlsplit(self.callback_url)
        headers = {}
        url = self.callback_url
        if parts.hostname and parts.hostname.endswith(".localhost"):
            headers["Host"] = parts.netloc
            url = urlunsplit(parts._replace(netloc=f"127.0.0.1:{parts.port or 80}"))
        body = envelope.callback_body(to_user_name=self.corp_id)
        try:
            status = httpx.post(url, params=envelope.query(), content=body, headers=headers, timeout=10).status_code
        except httpx.HTTPError as exc:
            logger.warning("callback to %s failed: %s", self.callback_url, exc)
            status = 0
        self.callback_responses.append(status)
        return status

    # --- faults -------------------------------------------------------------------------------------

    def inject(
        self,
        path: str = "*",
        *,
        errcode: int | None = None,
        http_status: int | None = None,
        delay: float = 0.0,
        times: int = 1,
    ) -> None:
        with self.lock:
            self.faults.append(Fault(path=path, errcode=errcode, http_status=http_status, delay=delay, times=times))

    def expire_tokens(self) -> None:
        """WeCom invalidates tokens early (another gettoken elsewhere, a secret reset): 40014."""
        with self.lock:
            self.tokens.clear()

    def _take_fault(self, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.path in ("*", path):
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
                    return fault
        return None

    # --- request dispatch ---------------------------------------------------------------------------

    def handle(self, path: str, query: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        """Answer one API call (under the lock). Raises FakeApiError for WeCom error codes."""
        with self.lock:
            self.calls[path] += 1
            self._settle_transfers()
            if path == "gettoken":
                return self._gettoken(query)
            self._check_token(query.get("access_token", ""))
            handler = ROUTES.get(path)
            if handler is None:
                raise FakeApiError(404, f"unknown api {path}")
            return handler(self, query, body)

    def _gettoken(self, query: dict[str, str]) -> dict[str, Any]:
        if query.get("corpid") != self.corp_id or query.get("corpsecret") != self.secret:
            raise FakeApiError(40001, "invalid credential")
        token = secrets.token_urlsafe(24)
        self.tokens[token] = self.now() + self.token_ttl
        return {"access_token": token, "expires_in": self.token_ttl}

    def _check_token(self, token: str) -> None:
        expires_at = self.tokens.get(token)
        if expires_at is None:
            raise FakeApiError(40014, "invalid access_token")
        if expires_at <= self.now():
            raise FakeApiError(42001, "access_token expired")

    def _page(self, items: list[Any], cursor: str, size: int | None = None) -> tuple[list[Any], str]:
        size = min(size or self.page_size, self.page_size)
        start = int(cursor) if cursor else 0
        end = start + size
        return items[start:end], (str(end) if end < len(items) else "")

    def _staff(self, userid: str) -> Staff:
        staff = self.staff.get(userid)
        if staff is None:
            raise FakeApiError(60111, f"userid not found: {userid}")
        return staff

    def _customers_of(self, userid: str) -> list[str]:
        return [ext for (uid, ext) in self.follows if uid == userid]

    # --- contacts -----------------------------------------------------------------------------------

    def api_get_follow_user_list(self, query: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        return {"follow_user": [s.userid for s in self.staff.values() if s.resigned_at is None]}

    def api_list(self, query: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        self._staff(query.get("userid", ""))
        return {"external_userid": self._customers_of(query["userid"])}

    def _follow_user_json(self, follow: Follow, *, with_tags: bool) -> dict[str, Any]:
        data: dict[str, Any] = {
            "userid": follow.userid,
            "remark": follow.remark,
            "createtime": follow.createtime,
            "add_way": follow.add_way,
            "state": follow.state,
            "remark_mobiles": [],
        }
        if with_tags:
            data["tags"] = [
                {"group_name": group.group_name, "tag_name": tag.name, "tag_id": tag.id, "type": 1}
                for group in self.tag_groups.values()
                for tag in group.tags
                if tag.id in follow.tag_ids
            ]
        else:
            data["tag_id"] = list(follow.tag_ids)
        return data

    def _contact_json(self, contact: Contact) -> dict[str, Any]:
        return {
            "external_userid": contact.external_userid,
            "name": contact.name,
            "avatar": "",
            "type": contact.type,
            "gender": contact.gender,
            "unionid": contact.unionid,
        }

    def api_get(self, query: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        contact = self.contacts.get(query.get("external_userid", ""))
        if contact is None:
            raise FakeApiError(40096, "invalid external_userid")
        follows = [f for (uid, ext), f in self.follows.items() if ext == contact.external_userid]
        if not follows:
            raise FakeApiError(84061, "not external contact")
        page, next_cursor = self._page(follows, query.get("cursor", ""))
        return {
            "external_contact": self._contact_json(contact),
            "follow_user": [self._follow_user_json(f, with_tags=True) for f in page],
            "next_cursor": next_cursor,
        }

    def api_batch_get_by_user(self, query: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        userids = list(body.get("userid_list") or [])
        if not userids or len(userids) > 100:
            raise FakeApiError(81017 if userids else 40058, "userid_list must have 1..100 items")
        for userid in userids:
            self._staff(userid)
        rows = [f for f in self.follows.values() if f.userid in userids]
        page, next_cursor = self._page(rows, str(body.get("cursor") or ""), int(body.get("limit") or 50))
        return {
            "external_contact_list": [
                {
                    "external_contact": self._contact_json(self.contacts[f.external_userid]),
                    "follow_info": self._follow_user_json(f, with_tags=False),
                }
                for f in page
            ],
            "next_cursor": next_cursor,
        }

    # --- transfers ----------------------------------------------------------------------------------

    def _start_transfers(self, body: dict[str, Any], *, resigned: bool) -> dict[str, Any]:
        handover, takeover = str(body.get("handover_userid", "")), str(body.get("takeover_userid", ""))
        external_userids = list(body.get("external_userid") or [])
        if handover == takeover:
            raise FakeApiError(40130, "handover and takeover are the same")
        if len(external_userids) > 100:
            raise FakeApiError(81017, "too many external_userid")
        handover_staff, takeover_staff = self._staff(handover), self._staff(takeover)
        if resigned and handover_staff.resigned_at is None:
            raise FakeApiError(40097, "handover has not resigned")
        if takeover_staff.resigned_at is not None:
            raise FakeApiError(60111, "takeover has resigned")
        now = self.now()
        customers = []
        for ext in external_userids:
            customers.append({"external_userid": ext, "errcode": self._transfer_check(handover, ext, now)})
            if customers[-1]["errcode"] == 0:
                self.transfers.append(
                    Transfer(
                        handover=handover, takeover=takeover, external_userid=ext, resigned=resigned, started_at=now
                    )
                )
        return {"customer": customers}

    def _transfer_check(self, handover: str, ext: str, now: float) -> int:
        if ext not in self.contacts:
            return 40096
        if (handover, ext) not in self.follows:
            return 40131
        if any(t.external_userid == ext and t.status == 2 for t in self.transfers):
            return 40129
        recent = [
            t
            for t in self.transfers
            if t.external_userid == ext and t.status in (1, 2) and now - t.started_at < TRANSFER_WINDOW
        ]
        if len(recent) >= TRANSFERS_PER_WINDOW:
            return 40128
        return 0

    def _settle_transfers(self) -> None:
        """Waiting transfers older than `transfer_settle_after` complete: refused if the customer
        refuses, at limit (4) if the takeover is full, otherwise done and the follow moves."""
        now = self.now()
        for transfer in self.transfers:
            if transfer.status != 2 or now - transfer.started_at < self.transfer_settle_after:
                continue
            settled_at = transfer.started_at + self.transfer_settle_after
            if transfer.external_userid in self.refusers:
                transfer.status = 3
                self.emit(
                    "transfer_fail",
                    userid=transfer.takeover,
                    external_userid=transfer.external_userid,
                    FailReason="customer_refused",
                )
            elif len(self._customers_of(transfer.takeover)) >= self.staff[transfer.takeover].customer_limit:
                transfer.status = 4
                self.emit(
                    "transfer_fail",
                    userid=transfer.takeover,
                    external_userid=transfer.external_userid,
                    FailReason="customer_limit_exceed",
                )
            else:
                transfer.status = 1
                transfer.takeover_time = int(settled_at)
                old = self.follows.pop((transfer.handover, transfer.external_userid), None)
                self.follows[(transfer.takeover, transfer.external_userid)] = Follow(
                    userid=transfer.takeover,
                    external_userid=transfer.external_userid,
                    createtime=int(settled_at),
                    remark=old.remark if old else "",
                    state=old.state if old else "",
                    add_way=old.add_way if old else 1,
                )
                if not transfer.resigned:
                    self.emit(
                        "del_external_contact",
                        userid=transfer.handover,
                        external_userid=transfer.external_userid,
                        Source="DELETE_BY_TRANSFER",
                    )

    def _transfer_results(self, body: dict[str, Any], *, resigned: bool) -> dict[str, Any]:
        handover, takeover = str(body.get("handover_userid", "")), str(body.get("takeover_userid", ""))
        rows = [
            t for t in self.transfers if t.handover == handover and t.takeover == takeover and t.resigned == resigned
        ]
        page, next_cursor = self._page(rows, str(body.get("cursor") or ""))
        return {
            "customer": [
                {"external_userid": t.external_userid, "status": t.status, "takeover_time": t.takeover_time}
                for t in page
            ],
            "next_cursor": next_cursor,
        }

    def api_transfer_customer(self, query: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        return self._start_transfers(body, resigned=False)

    def api_resigned_transfer_customer(self, query: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        return self._start_transfers(body, resigned=True)

    def api_transfer_result(self, query: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        return self._transfer_results(body, resigned=False)

    def api_resigned_transfer_result(self, query: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        return self._transfer_results(body, resigned=True)

    def api_get_unassigned_list(self, query: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        pending = {t.external_userid for t in self.transfers if t.status == 2}
        rows = [
            {
                "handover_userid": f.userid,
                "external_userid": f.external_userid,
                "dimission_time": int(self.staff[f.userid].resigned_at or 0),
            }
            for f in self.follows.values()
            if self.staff[f.userid].resigned_at is not None and f.external_userid not in pending
        ]
        page, next_cursor = self._page(rows, str(body.get("cursor") or ""), int(body.get("page_size") or 1000))
        return {"info": page, "is_last": not next_cursor, "next_cursor": next_cursor}

    # --- tags ---------------------------------------------------------------------------------------

    def _group_json(self, group: TagGroup, tags: list[Tag] | None = None) -> dict[str, Any]:
        return {
            "group_id": group.group_id,
            "group_name": group.group_name,
            "order": group.order,
            "tag": [{"id": t.id, "name": t.name, "order": t.order} for t in (group.tags if tags is None else tags)],
        }

    def api_get_corp_tag_list(self, query: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        tag_ids, group_ids = set(body.get("tag_id") or []), set(body.get("group_id") or [])
        result = []
        for group in self.tag_groups.values():
            if group_ids and group.group_id not in group_ids:
                continue
            tags = [t for t in group.tags if not tag_ids or t.id in tag_ids]
            if tags or not tag_ids:
                result.append(self._group_json(group, tags))
        return {"tag_group": result}

    def api_add_corp_tag(self, query: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        new_tags = list(body.get("tag") or [])
        if not new_tags:
            raise FakeApiError(40058, "tag is required")
        if sum(len(g.tags) for g in self.tag_groups.values()) + len(new_tags) > 3000:
            raise FakeApiError(81017, "too many tags (max 3000)")
        if body.get("group_id"):
            group = self.tag_groups.get(str(body["group_id"]))
            if group is None:
                raise FakeApiError(40068, "invalid tag group id")
        else:
            name = str(body.get("group_name") or "")
            group = next((g for g in self.tag_groups.values() if g.group_name == name), None)
            if group is None:
                group = TagGroup(group_id=self._next_id("grp"), group_name=name, order=int(body.get("order") or 0))
                self.tag_groups[group.group_id] = group
        added = []
        for item in new_tags:
            if any(t.name == item["name"] for t in group.tags):
                raise FakeApiError(40071, f"tag name exists: {item['name']}")
            tag = Tag(id=self._next_id("tag"), name=str(item["name"]), order=int(item.get("order") or 0))
            group.tags.append(tag)
            added.append(tag)
        return {"tag_group": self._group_json(group, added)}

    def api_edit_corp_tag(self, query: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        target = str(body.get("id", ""))
        for group in self.tag_groups.values():
            if group.group_id == target:
                group.group_name = str(body.get("name") or group.group_name)
                return {}
            for tag in group.tags:
                if tag.id == target:
                    tag.name = str(body.get("name") or tag.name)
                    if body.get("order") is not None:
                        tag.order = int(body["order"])
                    return {}
        raise FakeApiError(40068, "invalid tag id")

    def api_del_corp_tag(self, query: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        tag_ids, group_ids = set(body.get("tag_id") or []), set(body.get("group_id") or [])
        for group_id in list(self.tag_groups):
            group = self.tag_groups[group_id]
            group.tags = [t for t in group.tags if t.id not in tag_ids]
            if group_id in group_ids or not group.tags:  # an empty group disappears
                del self.tag_groups[group_id]
        for follow in self.follows.values():
            follow.tag_ids = [t for t in follow.tag_ids if self._tag_exists(t)]
        return {}

    def _tag_exists(self, tag_id: str) -> bool:
        return any(t.id == tag_id for g in self.tag_groups.values() for t in g.tags)

    def api_mark_tag(self, query: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        follow = self.follows.get((str(body.get("userid", "")), str(body.get("external_userid", ""))))
        if follow is None:
            raise FakeApiError(84061, "not external contact of this user")
        for tag_id in list(body.get("add_tag") or []) + list(body.get("remove_tag") or []):
            if not self._tag_exists(tag_id):
                raise FakeApiError(40068, f"invalid tag id {tag_id}")
        follow.tag_ids = [t for t in follow.tag_ids if t not in set(body.get("remove_tag") or [])]
        follow.tag_ids += [t for t in body.get("add_tag") or [] if t not in follow.tag_ids]
        return {}

    # --- contact ways, messages ---------------------------------------------------------------------

    def api_add_contact_way(self, query: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        state = str(body.get("state") or "")
        if len(state) > 30:
            raise FakeApiError(40058, "state longer than 30 characters")
        users = list(body.get("user") or [])
        if not users or (int(body.get("type") or 1) == 1 and len(users) != 1):
            raise FakeApiError(40058, "type 1 needs exactly one user")
        for userid in users:
            self._staff(userid)
        config_id = secrets.token_hex(16)
        qr_code = f"https://wework.qpic.cn/fake/qr/{config_id}.png"
        self.contact_ways[config_id] = ContactWay(
            config_id=config_id, state=state, users=users, type=int(body.get("type") or 1), qr_code=qr_code
        )
        return {"config_id": config_id, "qr_code": qr_code}

    def api_add_msg_template(self, query: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        sender = str(body.get("sender") or "")
        self._staff(sender)
        if len(body.get("attachments") or []) > 9:
            raise FakeApiError(81017, "too many attachments (max 9)")
        targets = list(body.get("external_userid") or [])
        msgid = self._next_id("msg")
        fail_list = [ext for ext in targets if (sender, ext) not in self.follows]
        message = GroupMessage(
            msgid=msgid,
            sender=sender,
            external_userids=targets,
            text=str((body.get("text") or {}).get("content", "")),
            created_at=self.now(),
        )
        message.results = {ext: (2 if ext in fail_list else 0) for ext in targets}
        self.messages[msgid] = message
        return {"msgid": msgid, "fail_list": fail_list}

    def staff_confirms_send(self, msgid: str) -> None:
        """The sender taps "send" in the WeCom app: each customer gets it unless over their limit
        (`msg_limit` group messages per `msg_limit_period`) → status 3."""
        with self.lock:
            message = self.messages[msgid]
            now = self.now()
            message.sent_at = now
            for ext, status in message.results.items():
                if status != 0:
                    continue
                received = sum(
                    1
                    for other in self.messages.values()
                    if other.sent_at is not None
                    and other.msgid != msgid
                    and now - other.sent_at < self.msg_limit_period
                    and other.results.get(ext) == 1
                )
                message.results[ext] = 3 if received >= self.msg_limit else 1

    def api_get_groupmsg_send_result(self, query: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        message = self.messages.get(str(body.get("msgid") or ""))
        if message is None:
            raise FakeApiError(41063, "msgid not found")
        rows = [
            {
                "external_userid": ext,
                "userid": message.sender,
                "status": status,
                "send_time": int(message.sent_at or 0) if status == 1 else 0,
            }
            for ext, status in message.results.items()
        ]
        page, next_cursor = self._page(rows, str(body.get("cursor") or ""), int(body.get("limit") or 1000))
        return {"send_list": page, "next_cursor": next_cursor}

    def api_send_welcome_msg(self, query: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        code = str(body.get("welcome_code") or "")
        issued = self.welcome_codes.get(code)
        if issued is None or issued[1] or self.now() - issued[0] > 20:
            raise FakeApiError(41051, "welcome msg already delivered or code expired")
        self.welcome_codes[code] = (issued[0], True)
        self.welcomes_sent.append((code, str((body.get("text") or {}).get("content", ""))))
        return {}

    # --- inspection ---------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "corp_id": self.corp_id,
                "clock_offset_seconds": self.offset,
                "staff": [asdict(s) for s in self.staff.values()],
                "contacts": [asdict(c) for c in self.contacts.values()],
                "follows": [asdict(f) for f in self.follows.values()],
                "tag_groups": [asdict(g) for g in self.tag_groups.values()],
                "contact_ways": [asdict(w) for w in self.contact_ways.values()],
                "transfers": [asdict(t) for t in self.transfers],
                "messages": [asdict(m) for m in self.messages.values()],
                "calls": dict(self.calls),
                "outbox": [{k: v for k, v in e.items() if k != "xml"} for e in self.outbox],
            }


ROUTES = {
    "externalcontact/get_follow_user_list": FakeWecom.api_get_follow_user_list,
    "externalcontact/list": FakeWecom.api_list,
    "externalcontact/get": FakeWecom.api_get,
    "externalcontact/batch/get_by_user": FakeWecom.api_batch_get_by_user,
    "externalcontact/transfer_customer": FakeWecom.api_transfer_customer,
    "externalcontact/resigned/transfer_customer": FakeWecom.api_resigned_transfer_customer,
    "externalcontact/transfer_result": FakeWecom.api_transfer_result,
    "externalcontact/resigned/transfer_result": FakeWecom.api_resigned_transfer_result,
    "externalcontact/get_unassigned_list": FakeWecom.api_get_unassigned_list,
    "externalcontact/get_corp_tag_list": FakeWecom.api_get_corp_tag_list,
    "externalcontact/add_corp_tag": FakeWecom.api_add_corp_tag,
    "externalcontact/edit_corp_tag": FakeWecom.api_edit_corp_tag,
    "externalcontact/del_corp_tag": FakeWecom.api_del_corp_tag,
    "externalcontact/mark_tag": FakeWecom.api_mark_tag,
    "externalcontact/add_contact_way": FakeWecom.api_add_contact_way,
    "externalcontact/add_msg_template": FakeWecom.api_add_msg_template,
    "externalcontact/get_groupmsg_send_result": FakeWecom.api_get_groupmsg_send_result,
    "externalcontact/send_welcome_msg": FakeWecom.api_send_welcome_msg,
}


class _Handler(BaseHTTPRequestHandler):
    server: "FakeWecomServer"
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _reply(self, status: int, payload: Any) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _dispatch(self) -> None:
        fake = self.server.fake
        parts = urlsplit(self.path)
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            self._reply(200, {"errcode": 47001, "errmsg": "data format error"})
            return
        if parts.path.startswith("/_fake/"):
            self._reply(200, control(fake, parts.path.removeprefix("/_fake/"), body))
            return
        path = parts.path.split("/cgi-bin/", 1)[-1].strip("/")
        fault = fake._take_fault(path)
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)  # outside the lock: a slow call must not stall the others
            if fault.http_status:
                self._reply(fault.http_status, {"error": "injected"})
                return
            if fault.errcode:
                with fake.lock:
                    fake.calls[path] += 1
                self._reply(200, {"errcode": fault.errcode, "errmsg": "injected fault"})
                return
        try:
            result = fake.handle(path, query, body if isinstance(body, dict) else {})
        except FakeApiError as exc:
            self._reply(200, {"errcode": exc.errcode, "errmsg": exc.errmsg})
        else:
            self._reply(200, {"errcode": 0, "errmsg": "ok", **result})
        # After answering: callbacks of transfers that settled on this call (transfer_fail, ...).
        fake.flush_callbacks()


def control(fake: FakeWecom, action: str, body: dict[str, Any]) -> dict[str, Any]:
    """The `/_fake/` control API (demo and manual testing): not part of WeCom."""
    if action == "state":
        return fake.snapshot()
    if action == "advance":
        fake.advance(float(body.get("seconds") or 0))
        return {"ok": True, "clock_offset_seconds": fake.offset}
    if action == "customer_adds":
        event = fake.customer_adds(
            str(body["userid"]),
            str(body.get("external_userid") or f"wm{secrets.token_hex(8)}"),
            name=str(body.get("name") or ""),
            unionid=str(body.get("unionid") or ""),
            state=str(body.get("state") or ""),
            config_id=str(body.get("config_id") or ""),
        )
        return {
            "ok": True,
            "event": {k: v for k, v in event.items() if k != "xml"},
            "callback_responses": fake.callback_responses[-1:],
        }
    if action == "confirm_send":
        fake.staff_confirms_send(str(body["msgid"]))
        return {"ok": True}
    return {"ok": False, "error": f"unknown action {action}"}


class FakeWecomServer(ThreadingHTTPServer):
    """The fake on a real socket, served from a daemon thread. Port 0 picks a free port."""

    daemon_threads = True

    def __init__(self, fake: FakeWecom, *, host: str = "127.0.0.1", port: int = 0, verbose: bool = False) -> None:
        super().__init__((host, port), _Handler)
        self.fake = fake
        self.verbose = verbose
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        # A bound AF_INET socket's address: (str host, port).
        host, port = cast(tuple[str, int], self.server_address[:2])
        return f"http://{host}:{port}/cgi-bin/"

    def start(self) -> "FakeWecomServer":
        self._thread = threading.Thread(target=self.serve_forever, name="fake-wecom", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)


# The demo brand's staff (members/demo.py creates them with these WeCom user ids) and, for the
# first demo members (unionid oDemoUnion{n:05d}, home store STORES[n % 4] in members/demo.py),
# who they follow on WeCom. wecom/demo.py seeds the portal side from the same tables, so the
# portal and the fake tell one story without talking to each other at seed time.
DEMO_STAFF = [
    ("zhangmin", "张敏"),
    ("liqiang", "李强"),
    ("wangfang", "王芳"),
    ("chenjing", "陈静"),
    ("liuyang", "刘洋"),
    ("zhaolei", "赵磊"),
    ("sunli", "孙丽"),
    ("zhouhao", "周浩"),
    ("wuting", "吴婷"),
]
# (member index n, staff userid, state of the QR code they scanned)
DEMO_FOLLOWS = [
    (0, "zhangmin", "spring_sh001"),
    (1, "chenjing", ""),
    (2, "zhaolei", "store_hz001"),
    (3, "zhouhao", ""),
    (4, "liqiang", "spring_sh001"),
    (5, "liuyang", ""),
    (6, "sunli", "store_hz001"),
    (7, "wuting", ""),
    (8, "wangfang", ""),
    (9, "chenjing", ""),
    (10, "zhaolei", "store_hz001"),
    (11, "zhouhao", ""),
]
# (config_id, state, staff userids, name, store code)
DEMO_CONTACT_WAYS = [
    ("demoQrSpringSH001", "spring_sh001", ["zhangmin"], "春季新品 · 静安嘉里中心店", "SH001"),
    ("demoQrStoreHZ001", "store_hz001", ["zhaolei", "sunli"], "湖滨银泰店门店码", "HZ001"),
]
# One on-the-job transfer waiting for the customer: (member index n, handover, takeover).
DEMO_PENDING_TRANSFER = (4, "liqiang", "zhangmin")


def demo_external_userid(n: int) -> str:
    return f"wmDemoMember{n:05d}"


def demo_unionid(n: int) -> str:
    return f"oDemoUnion{n:05d}"


def demo_corp(*, callback_url: str = "") -> FakeWecom:
    """The corp the demo brand talks to: three unlinked customers of zhangsan/lisi (they show up
    as prospects), the demo brand's staff with the first demo members following them, two QR
    codes, a tag group and one transfer waiting for the customer."""
    fake = FakeWecom(callback_url=callback_url)
    fake.add_staff("zhangsan", "张三")
    fake.add_staff("lisi", "李四")
    fake.add_staff("wangwu", "王五")
    for userid, name in DEMO_STAFF:
        fake.add_staff(userid, name)
    for index, (name, staff) in enumerate(
        [("陈女士", "zhangsan"), ("刘先生", "zhangsan"), ("赵女士", "lisi")], start=1
    ):
        ext = f"wmDemoCustomer{index:04d}"
        fake.add_contact(ext, name, unionid=f"oDemoGuest{index:04d}")
        fake.add_follow(staff, ext, state="store_sh001")
    for n, userid, state in DEMO_FOLLOWS:
        fake.add_contact(demo_external_userid(n), f"会员{n}", unionid=demo_unionid(n))
        fake.add_follow(userid, demo_external_userid(n), state=state)
    for config_id, state, users, _name, _store in DEMO_CONTACT_WAYS:
        fake.contact_ways[config_id] = ContactWay(
            config_id=config_id,
            state=state,
            users=users,
            type=1 if len(users) == 1 else 2,
            qr_code=f"https://wework.qpic.cn/fake/qr/{config_id}.png",
        )
    n, handover, takeover = DEMO_PENDING_TRANSFER
    fake.transfers.append(
        Transfer(
            handover=handover,
            takeover=takeover,
            external_userid=demo_external_userid(n),
            resigned=False,
            started_at=fake.now(),
        )
    )
    group = TagGroup(
        group_id="grpDemo0001",
        group_name="会员等级",
        tags=[Tag(id="tagDemoGold", name="金卡"), Tag(id="tagDemoSilver", name="银卡")],
    )
    fake.tag_groups[group.group_id] = group
    return fake
