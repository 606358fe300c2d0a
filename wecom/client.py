"""The WeCom external-contact API client (real HTTP through crm.egress).

- The API address is set by a brand admin and the client sends the app secret to it: every call
  goes through crm.egress (address checked and pinned, private ranges refused outside
  development, the answer capped at settings.WECOM_API_MAX_RESPONSE_BYTES and the call at
  settings.WECOM_API_DEADLINE_SECONDS). A refused address is not retryable.

- The access token is cached in the shared cache (keys are prefixed with the brand's schema, so one
  brand never sees another's token), so web, workers and beat share one token per brand instead of
  each process hammering `gettoken`.
- WeCom may invalidate a token before `expires_in` (40014) or report it expired (42001): the client
  drops it, fetches a new one and retries the call exactly once. 40001 (bad secret) is raised at
  once: another token request would fail the same way.
- 45009 / 45033 and transport failures (timeouts, 5xx) raise retryable errors; tasks retry them
  through celery with backoff (`wecom.tasks.retry_countdown`), never in a loop here.
- Cursor-paginated calls are followed to the end; a cursor that repeats is a server bug and raises
  rather than looping forever.
"""

import hashlib
import json
import logging
from collections.abc import Iterable, Iterator
from typing import Any, Protocol, TypeVar

import httpx
from django.conf import settings
from django.core.cache import cache

from crm.egress import EgressDeadline, EgressRefused, EgressTooLarge, egress_request

from .errors import AccessTokenInvalid, WecomProtocolError, WecomTransportError, error_for


class ClientConfig(Protocol):
    """What the client needs of a brand's WeCom configuration (wecom.models.WecomConfig has it):
    the client imports nothing of the app but its errors."""

    @property
    def corp_id(self) -> str: ...
    @property
    def secret(self) -> str: ...
    @property
    def api_base_url(self) -> str: ...


logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://qyapi.weixin.qq.com/cgi-bin/"
TOKEN_EXPIRY_MARGIN = 300  # refresh five minutes before WeCom says the token expires
MAX_BATCH = 100  # userid_list, external_userid[] and transfer batches are capped at 100 by WeCom


_T = TypeVar("_T")


def chunks(items: list[_T], size: int) -> Iterator[list[_T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class WecomClient:
    """One brand's WeCom app. Create with `WecomClient.for_config(config)` in services."""

    def __init__(
        self,
        *,
        corp_id: str,
        secret: str,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.corp_id = corp_id
        self._secret = secret
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self._timeout = timeout
        # Calls go through crm.egress (the API address is set by a brand admin: SSRF-checked,
        # pinned, size- and time-bounded); tests that script the server pass an httpx transport.
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport) if transport else None
        # The secret's hash is part of the key: after the admin changes the secret, the token
        # issued for the old one is not reused.
        secret_hash = hashlib.sha256(secret.encode()).hexdigest()[:16]
        self._token_key = f"wecom:token:{corp_id}:{secret_hash}"

    @classmethod
    def for_config(cls, config: ClientConfig, *, timeout: float = 10.0) -> "WecomClient":
        return cls(corp_id=config.corp_id, secret=config.secret, base_url=config.api_base_url, timeout=timeout)

    def close(self) -> None:
        if self._http is not None:
            self._http.close()

    def __enter__(self) -> "WecomClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- transport -------------------------------------------------------------------------------

    def _send(self, method: str, path: str, params: dict[str, Any], body: dict[str, Any] | None) -> dict[str, Any]:
        status_code, content = self._exchange(method, path, params, body)
        if status_code >= 500:
            raise WecomTransportError(-1, f"HTTP {status_code}", path=path)
        try:
            data = json.loads(content)
        except ValueError as exc:
            raise WecomProtocolError(-1, f"HTTP {status_code}, not JSON", path=path) from exc
        if not isinstance(data, dict):
            raise WecomProtocolError(-1, "response is not a JSON object", path=path)
        return data

    def _exchange(
        self, method: str, path: str, params: dict[str, Any], body: dict[str, Any] | None
    ) -> tuple[int, bytes]:
        try:
            if self._http is not None:
                response = self._http.request(method, path, params=params, json=body)
                return response.status_code, response.content
            answer = egress_request(
                method,
                self.base_url + path,
                params=params,
                json=body,
                max_bytes=settings.WECOM_API_MAX_RESPONSE_BYTES,
                deadline_seconds=settings.WECOM_API_DEADLINE_SECONDS,
                read_timeout=self._timeout,
            )
            return answer.status_code, answer.content
        except EgressRefused as exc:
            # Not retryable: the configured address is the problem, and the secret never left.
            raise WecomProtocolError(-1, f"API 地址不允许访问（{exc}）", path=path) from exc
        except (EgressDeadline, httpx.TimeoutException) as exc:
            raise WecomTransportError(-1, f"timeout: {exc}", path=path) from exc
        except EgressTooLarge as exc:
            raise WecomProtocolError(-1, f"answer too large: {exc}", path=path) from exc
        except httpx.TransportError as exc:
            raise WecomTransportError(-1, f"transport: {exc}", path=path) from exc

    def access_token(self, *, force_refresh: bool = False) -> str:
        if not force_refresh:
            token = cache.get(self._token_key)
            if token:
                return str(token)
        data = self._send("GET", "gettoken", {"corpid": self.corp_id, "corpsecret": self._secret}, None)
        errcode = int(data.get("errcode", 0))
        if errcode:
            raise error_for(errcode, str(data.get("errmsg", "")), path="gettoken")
        token = str(data["access_token"])
        expires_in = int(data.get("expires_in", 7200))
        cache.set(self._token_key, token, timeout=max(60, expires_in - TOKEN_EXPIRY_MARGIN))
        return token

    def call(
        self, method: str, path: str, *, params: dict[str, Any] | None = None, body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """One API call with the cached token; on 40014/42001 a fresh token and one retry."""
        token = self.access_token()
        for attempt in (1, 2):
            data = self._send(method, path, {**(params or {}), "access_token": token}, body)
            errcode = int(data.get("errcode", 0))
            if errcode == 0:
                return data
            error = error_for(errcode, str(data.get("errmsg", "")), path=path)
            if isinstance(error, AccessTokenInvalid) and attempt == 1:
                logger.info("WeCom token rejected (%s) on %s; refreshing once", errcode, path)
                # Only drop the token we used: another process may already have cached a new one.
                if cache.get(self._token_key) == token:
                    cache.delete(self._token_key)
                token = self.access_token(force_refresh=True)
                continue
            raise error
        raise AssertionError("unreachable")  # pragma: no cover

    def _paginate(
        self, path: str, body: dict[str, Any], items_key: str, *, method: str = "POST", cursor_in: str = "body"
    ) -> Iterator[dict[str, Any]]:
        cursor = ""
        seen: set[str] = set()
        while True:
            if cursor_in == "body":
                data = self.call(method, path, body={**body, "cursor": cursor})
            else:
                data = self.call(method, path, params={**body, "cursor": cursor})
            yield from data.get(items_key) or []
            cursor = str(data.get("next_cursor") or "")
            if not cursor or data.get("is_last") is True:
                return
            if cursor in seen:
                raise WecomProtocolError(-1, f"cursor {cursor!r} repeated", path=path)
            seen.add(cursor)

    # --- staff and customers ----------------------------------------------------------------------

    def get_follow_user_list(self) -> list[str]:
        return list(self.call("GET", "externalcontact/get_follow_user_list").get("follow_user") or [])

    def list_external_contacts(self, userid: str) -> list[str]:
        return list(self.call("GET", "externalcontact/list", params={"userid": userid}).get("external_userid") or [])

    def get_external_contact(self, external_userid: str) -> dict[str, Any]:
        """`{"external_contact": {...}, "follow_user": [...]}` with every follow_user page."""
        contact: dict[str, Any] = {}
        follow_users: list[dict[str, Any]] = []
        cursor = ""
        seen: set[str] = set()
        while True:
            data = self.call(
                "GET", "externalcontact/get", params={"external_userid": external_userid, "cursor": cursor}
            )
            contact = data.get("external_contact") or contact
            follow_users.extend(data.get("follow_user") or [])
            cursor = str(data.get("next_cursor") or "")
            if not cursor:
                return {"external_contact": contact, "follow_user": follow_users}
            if cursor in seen:
                raise WecomProtocolError(-1, f"cursor {cursor!r} repeated", path="externalcontact/get")
            seen.add(cursor)

    def batch_get_by_user(self, userids: Iterable[str], *, limit: int = 100) -> list[dict[str, Any]]:
        """Every customer of these staff members (`external_contact` + `follow_info`)."""
        result: list[dict[str, Any]] = []
        for batch in chunks(list(userids), MAX_BATCH):
            body = {"userid_list": batch, "limit": min(limit, 100)}
            result.extend(self._paginate("externalcontact/batch/get_by_user", body, "external_contact_list"))
        return result

    # --- transfers --------------------------------------------------------------------------------

    def _transfer(
        self, path: str, handover: str, takeover: str, external_userids: list[str], msg: str | None
    ) -> list[dict[str, Any]]:
        """Per-customer results `[{external_userid, errcode}]`: one customer's refusal (40128 ...)
        is data for the caller to record, not an exception that hides the others."""
        results: list[dict[str, Any]] = []
        for batch in chunks(external_userids, MAX_BATCH):
            body: dict[str, Any] = {"handover_userid": handover, "takeover_userid": takeover, "external_userid": batch}
            if msg:
                body["transfer_success_msg"] = msg
            results.extend(self.call("POST", path, body=body).get("customer") or [])
        return results

    def transfer_customer(
        self, *, handover_userid: str, takeover_userid: str, external_userids: list[str], transfer_success_msg: str = ""
    ) -> list[dict[str, Any]]:
        """在职继承 (on-the-job reassignment)."""
        return self._transfer(
            "externalcontact/transfer_customer",
            handover_userid,
            takeover_userid,
            external_userids,
            transfer_success_msg,
        )

    def resigned_transfer_customer(
        self, *, handover_userid: str, takeover_userid: str, external_userids: list[str]
    ) -> list[dict[str, Any]]:
        """离职继承 (the handover must have resigned: 40097 otherwise)."""
        return self._transfer(
            "externalcontact/resigned/transfer_customer", handover_userid, takeover_userid, external_userids, None
        )

    def transfer_result(self, *, handover_userid: str, takeover_userid: str) -> list[dict[str, Any]]:
        body = {"handover_userid": handover_userid, "takeover_userid": takeover_userid}
        return list(self._paginate("externalcontact/transfer_result", body, "customer"))

    def resigned_transfer_result(self, *, handover_userid: str, takeover_userid: str) -> list[dict[str, Any]]:
        body = {"handover_userid": handover_userid, "takeover_userid": takeover_userid}
        return list(self._paginate("externalcontact/resigned/transfer_result", body, "customer"))

    def get_unassigned_list(self, *, page_size: int = 1000) -> list[dict[str, Any]]:
        body = {"page_id": 0, "page_size": min(page_size, 1000)}
        return list(self._paginate("externalcontact/get_unassigned_list", body, "info"))

    # --- tags -------------------------------------------------------------------------------------

    def get_corp_tag_list(
        self, *, tag_ids: list[str] | None = None, group_ids: list[str] | None = None
    ) -> list[dict[str, Any]]:
        body = {"tag_id": tag_ids or [], "group_id": group_ids or []}
        return list(self.call("POST", "externalcontact/get_corp_tag_list", body=body).get("tag_group") or [])

    def add_corp_tag(
        self, *, tags: list[dict[str, Any]], group_id: str = "", group_name: str = "", order: int = 0
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"tag": tags, "order": order}
        if group_id:
            body["group_id"] = group_id
        else:
            body["group_name"] = group_name
        return dict(self.call("POST", "externalcontact/add_corp_tag", body=body)["tag_group"])

    def edit_corp_tag(self, *, id: str, name: str, order: int | None = None) -> None:
        body: dict[str, Any] = {"id": id, "name": name}
        if order is not None:
            body["order"] = order
        self.call("POST", "externalcontact/edit_corp_tag", body=body)

    def del_corp_tag(self, *, tag_ids: list[str] | None = None, group_ids: list[str] | None = None) -> None:
        self.call("POST", "externalcontact/del_corp_tag", body={"tag_id": tag_ids or [], "group_id": group_ids or []})

    def mark_tag(
        self,
        *,
        userid: str,
        external_userid: str,
        add_tag: list[str] | None = None,
        remove_tag: list[str] | None = None,
    ) -> None:
        body = {
            "userid": userid,
            "external_userid": external_userid,
            "add_tag": add_tag or [],
            "remove_tag": remove_tag or [],
        }
        self.call("POST", "externalcontact/mark_tag", body=body)

    # --- channel QR codes, messages ---------------------------------------------------------------

    def add_contact_way(
        self,
        *,
        state: str,
        users: list[str],
        type: int = 1,
        scene: int = 2,
        skip_verify: bool = True,
    ) -> dict[str, Any]:
        """A channel QR code; `state` (≤30 chars) comes back in the add callback."""
        body = {"type": type, "scene": scene, "state": state, "user": users, "skip_verify": skip_verify}
        data = self.call("POST", "externalcontact/add_contact_way", body=body)
        return {"config_id": data["config_id"], "qr_code": data.get("qr_code", "")}

    def add_msg_template(
        self, *, sender: str, external_userids: list[str], text: str, attachments: list[dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        body = {
            "chat_type": "single",
            "sender": sender,
            "external_userid": external_userids,
            "text": {"content": text},
            "attachments": attachments or [],
        }
        data = self.call("POST", "externalcontact/add_msg_template", body=body)
        return {"msgid": data["msgid"], "fail_list": list(data.get("fail_list") or [])}

    def get_groupmsg_send_result(self, *, msgid: str, userid: str, limit: int = 1000) -> list[dict[str, Any]]:
        body = {"msgid": msgid, "userid": userid, "limit": limit}
        return list(self._paginate("externalcontact/get_groupmsg_send_result", body, "send_list"))

    def send_welcome_msg(self, *, welcome_code: str, text: str) -> None:
        self.call(
            "POST", "externalcontact/send_welcome_msg", body={"welcome_code": welcome_code, "text": {"content": text}}
        )
