"""A fake WeChat web-authorisation (网页授权) server over real HTTP, for tests and the demo, like
wecom.fake for WeCom. It plays both WeChat hosts of the flow:

    GET /connect/oauth2/authorize?appid&redirect_uri&response_type=code&scope&state
        → 302 to redirect_uri?code=…&state=… (the person "allows" at once; snsapi_base is silent
        in WeChat anyway). Who signs in: the user queued with /_fake/next_user, else a new person.
    GET /sns/oauth2/access_token?appid&secret&code&grant_type=authorization_code
        → {access_token, expires_in, refresh_token, openid, scope[, unionid]}; a code works once
        and for 5 minutes (errcode 40029 / 40163 as WeChat answers), a wrong secret is 40125.
    GET /sns/userinfo?access_token&openid → {openid, nickname, unionid, ...} (snsapi_userinfo).

It also plays a mini-program's phone number (手机号快速验证):

    GET /cgi-bin/token?grant_type=client_credential&appid&secret → {access_token, expires_in}
    POST /wxa/business/getuserphonenumber?access_token  {"code"}
        → {errcode: 0, phone_info: {phoneNumber, purePhoneNumber, countryCode, watermark: {appid,
        timestamp}}}; a phone code works once and for 5 minutes (40029 otherwise), an unknown
        access token is 40001.

unionid is only returned when the app is bound to an open-platform account (`bound`), as on
WeChat. Control API under /_fake/: state, next_user, add_app, phone_code ({"app_id", "phone"} →
the code the mini-program's getPhoneNumber button would hand over).

Run it with `python manage.py fake_wechat_oauth --port 8766` (Procfile.dev does).
"""

import json
import secrets
import threading
import time
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import parse_qs, urlencode, urlsplit

DEMO_APP_ID = "wxdemo0000oauth0000"
DEMO_APP_SECRET = "demo-oauth-secret-not-for-production"  # noqa: S105  (the fake's public demo credentials)
DEMO_MINIPROGRAM_APP_ID = "wxdemo0000mini00000"
DEMO_MINIPROGRAM_SECRET = "demo-miniprogram-secret-not-for-production"  # noqa: S105  (the fake's public demo credentials)
CODE_TTL = 300


@dataclass
class WechatUser:
    openid: str
    unionid: str = ""
    nickname: str = "微信用户"


@dataclass
class App:
    app_id: str
    secret: str
    bound: bool = True  # bound to an open-platform account: unionid is returned


@dataclass
class FakeWechatOAuth:
    apps: dict[str, App] = field(default_factory=dict)
    users: dict[str, WechatUser] = field(default_factory=dict)  # by openid
    codes: dict[str, tuple[str, str, str, float]] = field(default_factory=dict)  # code → (app, openid, scope, t)
    tokens: dict[str, str] = field(default_factory=dict)  # access token → openid
    next_users: list[str] = field(default_factory=list)
    phone_codes: dict[str, tuple[str, str, float]] = field(default_factory=dict)  # code → (app, phone, t)
    app_tokens: dict[str, str] = field(default_factory=dict)  # interface access token → app
    calls: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_app(self, app_id: str, secret: str, *, bound: bool = True) -> App:
        app = App(app_id, secret, bound)
        self.apps[app_id] = app
        return app

    def add_user(self, openid: str, unionid: str = "", nickname: str = "微信用户") -> WechatUser:
        user = WechatUser(openid, unionid, nickname)
        self.users[openid] = user
        return user

    def queue_user(self, openid: str, unionid: str = "", nickname: str = "微信用户") -> WechatUser:
        """The next authorisation signs this person in."""
        with self.lock:
            user = self.users.get(openid) or self.add_user(openid, unionid, nickname)
            self.next_users.append(user.openid)
        return user

    def authorize(self, query: dict[str, str]) -> tuple[int, str]:
        app = self.apps.get(query.get("appid", ""))
        if app is None or query.get("response_type") != "code" or not query.get("redirect_uri"):
            return 400, ""
        with self.lock:
            self.calls.append("authorize")
            if self.next_users:
                user = self.users[self.next_users.pop(0)]
            else:
                user = self.add_user(f"o{secrets.token_hex(13)}", f"u{secrets.token_hex(13)}")
            code = secrets.token_hex(16)
            self.codes[code] = (app.app_id, user.openid, query.get("scope", "snsapi_base"), time.time())
        location = query["redirect_uri"]
        sep = "&" if "?" in location else "?"
        return 302, f"{location}{sep}{urlencode({'code': code, 'state': query.get('state', '')})}"

    def access_token(self, query: dict[str, str]) -> dict[str, Any]:
        with self.lock:
            self.calls.append("access_token")
            app = self.apps.get(query.get("appid", ""))
            if app is None:
                return {"errcode": 40013, "errmsg": "invalid appid"}
            if query.get("secret") != app.secret:
                return {"errcode": 40125, "errmsg": "invalid appsecret"}
            entry = self.codes.pop(query.get("code", ""), None)  # a code works once
            if entry is None or entry[0] != app.app_id:
                return {"errcode": 40029, "errmsg": "invalid code"}
            if time.time() - entry[3] > CODE_TTL:
                return {"errcode": 40163, "errmsg": "code been used"}
            user = self.users[entry[1]]
            token = secrets.token_hex(16)
            self.tokens[token] = user.openid
            answer: dict[str, Any] = {
                "access_token": token,
                "expires_in": 7200,
                "refresh_token": secrets.token_hex(16),
                "openid": user.openid,
                "scope": entry[2],
            }
            if app.bound and user.unionid and entry[2] == "snsapi_base":
                answer["unionid"] = user.unionid
            return answer

    def userinfo(self, query: dict[str, str]) -> dict[str, Any]:
        with self.lock:
            self.calls.append("userinfo")
            openid = self.tokens.get(query.get("access_token", ""))
            if openid is None or openid != query.get("openid"):
                return {"errcode": 40001, "errmsg": "invalid credential"}
            user = self.users[openid]
            bound = any(app.bound for app in self.apps.values())
            return {"openid": openid, "nickname": user.nickname, **({"unionid": user.unionid} if bound else {})}

    def phone_code(self, app_id: str, phone: str) -> str:
        """What a mini-program's getPhoneNumber button hands over for `phone`."""
        with self.lock:
            code = secrets.token_hex(16)
            self.phone_codes[code] = (app_id, phone, time.time())
        return code

    def client_token(self, query: dict[str, str]) -> dict[str, Any]:
        with self.lock:
            self.calls.append("cgi-bin/token")
            app = self.apps.get(query.get("appid", ""))
            if app is None or query.get("grant_type") != "client_credential":
                return {"errcode": 40013, "errmsg": "invalid appid"}
            if query.get("secret") != app.secret:
                return {"errcode": 40125, "errmsg": "invalid appsecret"}
            token = secrets.token_hex(16)
            self.app_tokens[token] = app.app_id
            return {"access_token": token, "expires_in": 7200}

    def user_phone_number(self, query: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.calls.append("getuserphonenumber")
            app_id = self.app_tokens.get(query.get("access_token", ""))
            if app_id is None:
                return {"errcode": 40001, "errmsg": "invalid credential, access_token is invalid or not latest"}
            entry = self.phone_codes.pop(str(body.get("code", "")), None)  # a code works once
            if entry is None or entry[0] != app_id or time.time() - entry[2] > CODE_TTL:
                return {"errcode": 40029, "errmsg": "invalid code"}
            phone = entry[1]
            country, pure = ("86", phone) if not phone.startswith("+") else (phone[1:3], phone[3:])
            return {
                "errcode": 0,
                "errmsg": "ok",
                "phone_info": {
                    "phoneNumber": phone,
                    "purePhoneNumber": pure,
                    "countryCode": country,
                    "watermark": {"timestamp": int(time.time()), "appid": app_id},
                },
            }

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "apps": [asdict(app) for app in self.apps.values()],
                "users": [asdict(user) for user in self.users.values()],
                "next_users": list(self.next_users),
                "pending_codes": len(self.codes),
            }


class _Handler(BaseHTTPRequestHandler):
    server: "FakeWechatOAuthServer"
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    def _reply(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode() if payload is not None else b""
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        fake = self.server.fake
        parts = urlsplit(self.path)
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if parts.path == "/connect/oauth2/authorize":
            status, location = fake.authorize(query)
            self._reply(status, None, {"Location": location} if location else None)
        elif parts.path == "/sns/oauth2/access_token":
            self._reply(200, fake.access_token(query))
        elif parts.path == "/sns/userinfo":
            self._reply(200, fake.userinfo(query))
        elif parts.path == "/cgi-bin/token":
            self._reply(200, fake.client_token(query))
        elif parts.path == "/wxa/business/getuserphonenumber" and self.command == "POST":
            try:
                payload = json.loads(raw) if raw else {}
            except ValueError:
                payload = {}
            self._reply(200, fake.user_phone_number(query, payload if isinstance(payload, dict) else {}))
        elif parts.path.startswith("/_fake/"):
            try:
                body = json.loads(raw) if raw else {}
            except ValueError:
                body = {}
            self._reply(200, control(fake, parts.path.removeprefix("/_fake/"), body))
        else:
            self._reply(404, {"errcode": 404, "errmsg": "not found"})


def control(fake: FakeWechatOAuth, action: str, body: dict[str, Any]) -> dict[str, Any]:
    if action == "state":
        return fake.snapshot()
    if action == "next_user":
        user = fake.queue_user(
            str(body.get("openid") or f"o{secrets.token_hex(13)}"),
            str(body.get("unionid") or ""),
            str(body.get("nickname") or "微信用户"),
        )
        return {"ok": True, "user": asdict(user)}
    if action == "add_app":
        app = fake.add_app(str(body["app_id"]), str(body["secret"]), bound=bool(body.get("bound", True)))
        return {"ok": True, "app": asdict(app)}
    if action == "phone_code":
        return {"ok": True, "code": fake.phone_code(str(body["app_id"]), str(body["phone"]))}
    return {"ok": False, "error": f"unknown action {action}"}


class FakeWechatOAuthServer(ThreadingHTTPServer):
    """The fake on a real socket, served from a daemon thread. Port 0 picks a free port."""

    daemon_threads = True

    def __init__(self, fake: FakeWechatOAuth, *, host: str = "127.0.0.1", port: int = 0, verbose: bool = False):
        super().__init__((host, port), _Handler)
        self.fake = fake
        self.verbose = verbose
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = cast(tuple[str, int], self.server_address[:2])
        return f"http://{host}:{port}/"

    @property
    def authorize_url(self) -> str:
        return self.base_url + "connect/oauth2/authorize"

    def start(self) -> "FakeWechatOAuthServer":
        self._thread = threading.Thread(target=self.serve_forever, name="fake-wechat-oauth", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)


def demo_wechat() -> FakeWechatOAuth:
    fake = FakeWechatOAuth()
    fake.add_app(DEMO_APP_ID, DEMO_APP_SECRET)
    fake.add_app(DEMO_MINIPROGRAM_APP_ID, DEMO_MINIPROGRAM_SECRET)
    return fake
