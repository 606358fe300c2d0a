"""WeCom callback crypto (WXBizMsgCrypt), implemented from WECOM.md and checked against WeCom's
own published sample.

Order matters and is the security property: the signature is verified (in constant time) before
anything is decrypted, then the PKCS#7 padding (block 32, not AES's 16) and the receive id (the
corp id) are checked. Two popular SDKs skip one of those checks; this module rejects on any failure
and never returns a partially trusted plaintext.

Freshness (stale timestamps) and replay protection are separate from the cipher because WeCom's
sample vector is from 2016: `CallbackGuard` applies them to live requests only.
"""

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import struct
import time
from dataclasses import dataclass
from xml.etree import ElementTree

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from django.core.cache import cache

BLOCK_SIZE = 32  # WeCom pads to 32 bytes although AES blocks are 16.
_ENCODING_AES_KEY = re.compile(r"^[A-Za-z0-9+/]{43}$")


class CallbackCryptoError(Exception):
    """A callback that must be refused. `code` is stable; `status` is the HTTP answer."""

    def __init__(self, code: str, message: str, *, status: int = 403) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def validate_encoding_aes_key(value: str) -> bytes:
    """Return the 32-byte AES key of a 43-character EncodingAESKey, or raise ValueError."""
    if not _ENCODING_AES_KEY.match(value or ""):
        raise ValueError("EncodingAESKey 必须是 43 位字母、数字（可含 + /）。")
    try:
        key = base64.b64decode(value + "=", validate=True)
    except binascii.Error as exc:
        raise ValueError("EncodingAESKey 不是有效的 Base64。") from exc
    if len(key) != 32:
        raise ValueError("EncodingAESKey 解码后必须是 32 字节。")
    return key


@dataclass(frozen=True)
class Envelope:
    """What WeCom puts on the wire: the ciphertext and the query parameters that sign it."""

    encrypt: str
    msg_signature: str
    timestamp: str
    nonce: str

    def callback_body(self, *, to_user_name: str = "", agent_id: str = "") -> bytes:
        """The POST body of an event callback."""
        return (
            f"<xml><ToUserName><![CDATA[{to_user_name}]]></ToUserName>"
            f"<AgentID><![CDATA[{agent_id}]]></AgentID>"
            f"<Encrypt><![CDATA[{self.encrypt}]]></Encrypt></xml>"
        ).encode()

    def reply_xml(self) -> str:
        """The passive-reply envelope."""
        return (
            f"<xml><Encrypt><![CDATA[{self.encrypt}]]></Encrypt>"
            f"<MsgSignature><![CDATA[{self.msg_signature}]]></MsgSignature>"
            f"<TimeStamp>{self.timestamp}</TimeStamp>"
            f"<Nonce><![CDATA[{self.nonce}]]></Nonce></xml>"
        )

    def query(self) -> dict[str, str]:
        return {"msg_signature": self.msg_signature, "timestamp": self.timestamp, "nonce": self.nonce}


class WXBizMsgCrypt:
    """Encrypt, sign, verify and decrypt WeCom callback messages for one (token, key, receive id)."""

    def __init__(self, *, token: str, encoding_aes_key: str, receive_id: str) -> None:
        self.token = token
        self.key = validate_encoding_aes_key(encoding_aes_key)
        self.iv = self.key[:16]
        self.receive_id = receive_id

    def signature(self, timestamp: str, nonce: str, encrypt: str) -> str:
        parts = sorted([self.token, timestamp, nonce, encrypt])
        return hashlib.sha1("".join(parts).encode(), usedforsecurity=False).hexdigest()

    def verify_and_decrypt(self, *, msg_signature: str, timestamp: str, nonce: str, encrypt: str) -> str:
        """The plaintext message, only if the signature, padding and receive id are all right."""
        expected = self.signature(timestamp, nonce, encrypt)
        # Constant time: a byte-by-byte compare would let an attacker guess the signature.
        if not hmac.compare_digest(expected.encode(), (msg_signature or "").lower().encode()):
            raise CallbackCryptoError("bad_signature", "签名校验失败。")
        return self._decrypt(encrypt)

    def encrypt(self, message: str, *, timestamp: str | None = None, nonce: str | None = None) -> Envelope:
        """Encrypt and sign `message` as WeCom does (used for passive replies and the fake server)."""
        msg = message.encode()
        plain = secrets.token_bytes(16) + struct.pack(">I", len(msg)) + msg + self.receive_id.encode()
        pad = BLOCK_SIZE - len(plain) % BLOCK_SIZE
        plain += bytes([pad]) * pad
        encryptor = Cipher(algorithms.AES(self.key), modes.CBC(self.iv)).encryptor()
        encrypt = base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()
        timestamp = timestamp or str(int(time.time()))
        nonce = nonce or str(secrets.randbelow(10**10))
        return Envelope(
            encrypt=encrypt, msg_signature=self.signature(timestamp, nonce, encrypt), timestamp=timestamp, nonce=nonce
        )

    def _decrypt(self, encrypt: str) -> str:
        try:
            cipher_bytes = base64.b64decode(encrypt, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise CallbackCryptoError("bad_ciphertext", "密文不是有效的 Base64。", status=400) from exc
        if not cipher_bytes or len(cipher_bytes) % 16:
            raise CallbackCryptoError("bad_ciphertext", "密文长度不正确。", status=400)
        decryptor = Cipher(algorithms.AES(self.key), modes.CBC(self.iv)).decryptor()
        plain = decryptor.update(cipher_bytes) + decryptor.finalize()
        pad = plain[-1]
        # Every pad byte must equal the pad length (1..32): a lenient check accepts forged tails.
        if not 1 <= pad <= BLOCK_SIZE or plain[-pad:] != bytes([pad]) * pad:
            raise CallbackCryptoError("bad_padding", "填充校验失败。")
        content = plain[16:-pad]
        if len(content) < 4:
            raise CallbackCryptoError("bad_padding", "明文长度不正确。")
        (length,) = struct.unpack(">I", content[:4])
        if length > len(content) - 4:
            raise CallbackCryptoError("bad_length", "消息长度不正确。")
        message, receive_id = content[4 : 4 + length], content[4 + length :]
        if not hmac.compare_digest(receive_id, self.receive_id.encode()):
            raise CallbackCryptoError("bad_receive_id", "ReceiveId 不匹配（不是本品牌的企业）。")
        try:
            return message.decode()
        except UnicodeDecodeError as exc:
            raise CallbackCryptoError("bad_message", "明文不是 UTF-8。") from exc


def envelope_encrypt_field(body: bytes) -> str:
    """The `Encrypt` element of a callback POST body."""
    try:
        root = ElementTree.fromstring(body)  # noqa: S314  (no DTDs/entities in WeCom's bodies; see parse_xml)
    except ElementTree.ParseError as exc:
        raise CallbackCryptoError("bad_body", "回调内容不是有效的 XML。", status=400) from exc
    encrypt = root.findtext("Encrypt")
    if not encrypt:
        raise CallbackCryptoError("bad_body", "回调内容缺少 Encrypt。", status=400)
    return encrypt.strip()


def parse_xml(text: str | bytes) -> dict[str, str]:
    """Flat `<xml><Name>value</Name>...</xml>` → dict. Refuses DTDs: WeCom never sends them and
    entity expansion is the classic XML bomb."""
    raw = text.encode() if isinstance(text, str) else text
    if b"<!DOCTYPE" in raw.upper() or b"<!ENTITY" in raw.upper():
        raise CallbackCryptoError("bad_body", "XML 不允许 DTD。", status=400)
    try:
        root = ElementTree.fromstring(raw)  # noqa: S314  (DTDs refused above)
    except ElementTree.ParseError as exc:
        raise CallbackCryptoError("bad_body", "XML 无效。", status=400) from exc
    return {child.tag: (child.text or "").strip() for child in root}


class CallbackGuard:
    """Refuses stale and replayed callbacks.

    WeCom signs (token, timestamp, nonce, ciphertext) but nothing stops a captured request from
    being sent again: a timestamp outside `max_age` seconds (either side, for clock skew) is stale,
    and a (timestamp, nonce, signature) seen before within the window is a replay. The seen-set
    lives in the shared cache (prefixed with the brand's schema), so every web process agrees.
    """

    def __init__(self, *, max_age: int = 300) -> None:
        self.max_age = max_age

    def check_fresh(self, timestamp: str, *, now: float | None = None) -> None:
        try:
            sent_at = int(timestamp)
        except (TypeError, ValueError) as exc:
            raise CallbackCryptoError("bad_timestamp", "时间戳无效。", status=400) from exc
        now = time.time() if now is None else now
        if abs(now - sent_at) > self.max_age:
            raise CallbackCryptoError("stale_timestamp", "时间戳过期。")

    def replay_key(self, timestamp: str, nonce: str, msg_signature: str) -> str:
        digest = hashlib.sha256(f"{timestamp}|{nonce}|{msg_signature}".encode()).hexdigest()
        return f"wecom:callback-seen:{digest}"

    def mark_seen(self, timestamp: str, nonce: str, msg_signature: str) -> str:
        """Remember this request; raise if it was seen already. Returns the key (to forget it if
        handling fails, so WeCom's re-delivery of a request we could not store is not refused)."""
        key = self.replay_key(timestamp, nonce, msg_signature)
        # cache.add is atomic on the shared cache: of two concurrent deliveries only one wins.
        if not cache.add(key, 1, timeout=2 * self.max_age + 60):
            raise CallbackCryptoError("replayed", "重复的回调请求（重放）。")
        return key

    def forget(self, key: str) -> None:
        cache.delete(key)
