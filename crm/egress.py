"""Outbound HTTP, one way for every egress (partner webhooks, the WeCom API, an SMS gateway).

Three bounds hold for every call, whoever configured the URL (a partner, a brand admin):
- the address: the host is resolved once, every address must be public (loopback, private,
  link-local and metadata ranges are refused unless settings.EGRESS_ALLOW_PRIVATE_HOSTS, which
  only development and tests turn on), and the connection goes to the checked address — resolving
  again would let a DNS answer change between the check and the connect (rebinding);
- the size: the answer is read streamed and the call fails past `max_bytes` (a receiver streaming
  gigabytes must not grow the shared worker);
- the time: one wall-clock deadline for the whole attempt, connect to last byte. httpx's timeout
  is per socket operation, so a receiver dripping a byte every few seconds never trips it; the
  network backend below gives each operation only what is left of the deadline.
"""

import ipaddress
import socket
import time
from dataclasses import dataclass
from typing import Any, cast

import httpcore
import httpx
from django.conf import settings


class EgressError(Exception):
    """An outbound call refused or cut short by this module."""


class EgressRefused(EgressError):
    """The URL is malformed or names an address of our own network."""


class EgressTooLarge(EgressError):
    """The answer exceeded the caller's byte cap."""


class EgressDeadline(EgressError):
    """The attempt ran past its total deadline."""


@dataclass(frozen=True)
class EgressResponse:
    status_code: int
    headers: httpx.Headers
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")


def egress_private_allowed() -> bool:
    return bool(settings.EGRESS_ALLOW_PRIVATE_HOSTS)


def egress_url_parse(url: str | httpx.URL) -> httpx.URL:
    """http(s) with a host, no credentials, a port in range; else EgressRefused."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError, UnicodeError, TypeError):
        raise EgressRefused("invalid URL") from None
    if (
        parsed.scheme not in {"http", "https"}
        or not parsed.raw_host
        or parsed.userinfo
        or not 0 < (parsed.port or 1) < 65536
    ):
        raise EgressRefused("URL not allowed")
    return parsed


def egress_addresses_resolve(parsed: httpx.URL) -> list[str]:
    """The addresses a call to `parsed` may connect to, each checked against our own network."""
    default_port = 443 if parsed.scheme == "https" else 80
    try:
        host = parsed.raw_host.decode("ascii")  # IDNA form of an internationalised name
        # An AF_INET/AF_INET6 sockaddr's host is a str (the int form is for builds without IPv6).
        addresses = [cast(str, info[4][0]) for info in socket.getaddrinfo(host, parsed.port or default_port)]
    except (OSError, UnicodeError):
        addresses = []
    if not addresses:
        raise EgressRefused("host does not resolve")
    if not egress_private_allowed() and not all(address_public(address) for address in addresses):
        raise EgressRefused("host resolves to a non-public address")
    return list(dict.fromkeys(addresses))


def egress_url_check(url: str) -> None:
    """What a form or service calls when a URL is saved: EgressRefused if calls to it would be."""
    parsed = egress_url_parse(url)
    if not egress_private_allowed():
        egress_addresses_resolve(parsed)


def address_public(address: str) -> bool:
    return ipaddress.ip_address(address.split("%")[0]).is_global


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream, deadline: float) -> None:
        self._stream = stream
        self._deadline = deadline

    def _left(self, timeout: float | None) -> float:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise httpcore.ReadTimeout("total deadline passed")
        return left if timeout is None else min(timeout, left)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, self._left(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, self._left(timeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None) -> Any:
        return _DeadlineStream(
            self._stream.start_tls(ssl_context, server_hostname, self._left(timeout)), self._deadline
        )

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.SyncBackend):
    """Every socket operation gets at most what is left until `deadline` (time.monotonic())."""

    def __init__(self, deadline: float) -> None:
        self._deadline = deadline

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise httpcore.ConnectTimeout("total deadline passed")
        timeout = left if timeout is None else min(timeout, left)
        stream = super().connect_tcp(host, port, timeout, local_address, socket_options)
        return _DeadlineStream(stream, self._deadline)


def _client(*, deadline: float, read_timeout: float) -> httpx.Client:
    transport = httpx.HTTPTransport()
    # httpx takes no network backend argument; its pool is the one place to give every socket
    # operation the remaining deadline. Checked by tests/api/test_webhook_delivery.py (slow drip).
    transport._pool._network_backend = _DeadlineBackend(deadline)
    return httpx.Client(transport=transport, timeout=read_timeout, follow_redirects=False, trust_env=False)


def egress_request(
    method: str,
    url: str,
    *,
    params: dict[str, Any] | None = None,
    content: bytes | None = None,
    json: Any = None,
    headers: dict[str, str] | None = None,
    max_bytes: int,
    deadline_seconds: float,
    read_timeout: float = 10.0,
) -> EgressResponse:
    """One bounded call. Raises EgressRefused (address), EgressTooLarge (size), EgressDeadline
    (time) or an httpx.TransportError (connection failures).

    The URL names the checked address, `Host` and TLS SNI (also the name the certificate is
    verified against) name the host; a dual-stack host is tried address by address."""
    parsed = egress_url_parse(url)
    deadline = time.monotonic() + deadline_seconds
    failure: httpx.TransportError | None = None
    with _client(deadline=deadline, read_timeout=read_timeout) as client:
        for address in egress_addresses_resolve(parsed):
            request = client.build_request(
                method,
                parsed.copy_with(host=address.split("%")[0]),
                params=params,
                content=content,
                json=json,
                headers={**(headers or {}), "Accept-Encoding": "identity", "Host": parsed.netloc.decode("ascii")},
                extensions={"sni_hostname": parsed.raw_host.decode("ascii")},
            )
            try:
                response = client.send(request, stream=True)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                if time.monotonic() >= deadline:
                    raise EgressDeadline(f"no answer within {deadline_seconds:g} s") from exc
                failure = exc
                continue
            except httpx.TimeoutException as exc:
                if time.monotonic() >= deadline:
                    raise EgressDeadline(f"no answer within {deadline_seconds:g} s") from exc
                raise
            try:
                return EgressResponse(response.status_code, response.headers, _read(response, max_bytes, deadline))
            except httpx.TimeoutException as exc:
                if time.monotonic() >= deadline:
                    raise EgressDeadline(f"answer not complete within {deadline_seconds:g} s") from exc
                raise
            finally:
                response.close()
    assert failure is not None  # at least one address, or resolving refused the URL
    raise failure


def _read(response: httpx.Response, max_bytes: int, deadline: float) -> bytes:
    # Asked for identity; a decompressed chunk could be many times the bytes read off the wire.
    if response.headers.get("Content-Encoding", "identity").lower() != "identity":
        raise EgressTooLarge("compressed answer (only identity is accepted)")
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise EgressTooLarge(f"answer of {declared} bytes, more than {max_bytes}")
    body = bytearray()
    for chunk in response.iter_raw():
        body += chunk
        if len(body) > max_bytes:
            raise EgressTooLarge(f"answer larger than {max_bytes} bytes")
        if time.monotonic() >= deadline:
            raise EgressDeadline("answer not complete within the deadline")
    return bytes(body)
