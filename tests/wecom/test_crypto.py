"""WXBizMsgCrypt: WeCom's own sample decrypts; anything forged, stale or replayed is refused."""

import base64
import struct
import time

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from wecom.crypto import CallbackCryptoError, CallbackGuard, WXBizMsgCrypt, parse_xml, validate_encoding_aes_key

# WeCom's published sample (WECOM.md).
SAMPLE_TOKEN = "hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo"
SAMPLE_KEY = "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt"
SAMPLE_CORP = "ww1436e0e65a779aee"
SAMPLE_TIMESTAMP = "1476416373"
SAMPLE_NONCE = "47744683"
SAMPLE_ECHOSTR = "fsi1xnbH4yQh0+PJxcOdhhK6TDXkjMyhEPA7xB2TGz6b+g7xyAbEkRxN/3cNXW9qdqjnoVzEtpbhnFyq6SVHyA=="
SAMPLE_SIGNATURE = "012bc692d0a58dd4b10f8dfe5c4ac00ae211ebeb"


def sample_crypt(receive_id: str = SAMPLE_CORP, token: str = SAMPLE_TOKEN) -> WXBizMsgCrypt:
    return WXBizMsgCrypt(token=token, encoding_aes_key=SAMPLE_KEY, receive_id=receive_id)


def decrypt_sample(crypt: WXBizMsgCrypt, *, signature: str = SAMPLE_SIGNATURE, encrypt: str = SAMPLE_ECHOSTR) -> str:
    return crypt.verify_and_decrypt(
        msg_signature=signature, timestamp=SAMPLE_TIMESTAMP, nonce=SAMPLE_NONCE, encrypt=encrypt
    )


def raw_encrypt(crypt: WXBizMsgCrypt, plain: bytes) -> str:
    """AES-CBC without any padding logic: lets a test craft plaintexts the real encoder never makes."""
    encryptor = Cipher(algorithms.AES(crypt.key), modes.CBC(crypt.iv)).encryptor()
    return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()


def test_wecom_sample_signature_and_plaintext():
    crypt = sample_crypt()

    assert crypt.signature(SAMPLE_TIMESTAMP, SAMPLE_NONCE, SAMPLE_ECHOSTR) == SAMPLE_SIGNATURE
    assert decrypt_sample(crypt) == "1288432023552776189"


def test_wecom_sample_uses_a_seven_byte_pad_of_block_32():
    crypt = sample_crypt()
    decryptor = Cipher(algorithms.AES(crypt.key), modes.CBC(crypt.iv)).decryptor()
    plain = decryptor.update(base64.b64decode(SAMPLE_ECHOSTR)) + decryptor.finalize()

    assert len(plain) % 32 == 0
    assert plain[-7:] == bytes([7]) * 7


def test_tampered_signature_is_refused():
    tampered = ("0" if SAMPLE_SIGNATURE[0] != "0" else "1") + SAMPLE_SIGNATURE[1:]
    with pytest.raises(CallbackCryptoError) as refused:
        decrypt_sample(sample_crypt(), signature=tampered)
    assert refused.value.code == "bad_signature"


def test_tampered_ciphertext_is_refused_before_decryption():
    flipped = "G" + SAMPLE_ECHOSTR[1:]
    with pytest.raises(CallbackCryptoError) as refused:
        decrypt_sample(sample_crypt(), encrypt=flipped)
    assert refused.value.code == "bad_signature"


def test_wrong_token_is_refused():
    with pytest.raises(CallbackCryptoError) as refused:
        decrypt_sample(sample_crypt(token="SomeoneElsesToken"))
    assert refused.value.code == "bad_signature"


def test_wrong_receive_id_is_refused_even_with_a_valid_signature():
    with pytest.raises(CallbackCryptoError) as refused:
        decrypt_sample(sample_crypt(receive_id="wwSomeOtherCorp"))
    assert refused.value.code == "bad_receive_id"


@pytest.mark.parametrize(
    "tail",
    [
        bytes([33]) * 32,  # pad length beyond the 32-byte block
        bytes([0]) * 32,  # pad length zero
        bytes([5]) * 3 + bytes([4]) + bytes([5]),  # pad bytes that disagree
    ],
)
def test_bad_padding_is_refused_even_when_signed(tail: bytes):
    crypt = sample_crypt()
    body = b"\0" * 16 + struct.pack(">I", 5) + b"hello" + SAMPLE_CORP.encode()
    filler = (-(len(body) + len(tail))) % 32
    plain = body + b"x" * filler + tail
    encrypt = raw_encrypt(crypt, plain)
    signature = crypt.signature("1", "2", encrypt)

    with pytest.raises(CallbackCryptoError) as refused:
        crypt.verify_and_decrypt(msg_signature=signature, timestamp="1", nonce="2", encrypt=encrypt)
    assert refused.value.code == "bad_padding"


def test_a_length_field_beyond_the_message_is_refused():
    crypt = sample_crypt()
    body = b"\0" * 16 + struct.pack(">I", 10_000) + b"hello" + SAMPLE_CORP.encode()
    pad = 32 - len(body) % 32
    encrypt = raw_encrypt(crypt, body + bytes([pad]) * pad)
    signature = crypt.signature("1", "2", encrypt)

    with pytest.raises(CallbackCryptoError) as refused:
        crypt.verify_and_decrypt(msg_signature=signature, timestamp="1", nonce="2", encrypt=encrypt)
    assert refused.value.code == "bad_length"


def test_encrypt_round_trips_and_pads_to_32():
    crypt = sample_crypt()
    message = "<xml><ChangeType>add_external_contact</ChangeType><UserID>张三</UserID></xml>"

    envelope = crypt.encrypt(message, timestamp="1700000000", nonce="42")

    assert len(base64.b64decode(envelope.encrypt)) % 32 == 0
    assert envelope.msg_signature == crypt.signature("1700000000", "42", envelope.encrypt)
    assert crypt.verify_and_decrypt(**envelope.query(), encrypt=envelope.encrypt) == message


def test_encoding_aes_key_must_be_43_base64_characters():
    assert len(validate_encoding_aes_key(SAMPLE_KEY)) == 32
    for bad in ["", SAMPLE_KEY[:42], SAMPLE_KEY + "A", SAMPLE_KEY[:42] + "!"]:
        with pytest.raises(ValueError):
            validate_encoding_aes_key(bad)


def test_xml_with_a_dtd_is_refused():
    with pytest.raises(CallbackCryptoError):
        parse_xml('<!DOCTYPE x [<!ENTITY a "b">]><xml><A>&a;</A></xml>')
    assert parse_xml("<xml><A><![CDATA[1]]></A><B>2</B></xml>") == {"A": "1", "B": "2"}


def test_stale_timestamps_are_refused_on_both_sides_of_the_window():
    guard = CallbackGuard(max_age=300)
    now = 1_800_000_000.0

    guard.check_fresh(str(int(now) - 299), now=now)
    guard.check_fresh(str(int(now) + 299), now=now)
    for stale in (int(now) - 301, int(now) + 301):
        with pytest.raises(CallbackCryptoError) as refused:
            guard.check_fresh(str(stale), now=now)
        assert refused.value.code == "stale_timestamp"
    with pytest.raises(CallbackCryptoError):
        guard.check_fresh("not-a-number", now=now)


def test_the_window_is_configurable():
    now = 1_800_000_000.0
    with pytest.raises(CallbackCryptoError):
        CallbackGuard(max_age=10).check_fresh(str(int(now) - 11), now=now)
    CallbackGuard(max_age=60).check_fresh(str(int(now) - 11), now=now)


@pytest.mark.django_db
def test_a_replayed_request_is_refused_within_the_window():
    guard = CallbackGuard(max_age=300)
    timestamp, nonce = str(int(time.time())), f"n{time.monotonic_ns()}"

    guard.mark_seen(timestamp, nonce, "sig-1")
    with pytest.raises(CallbackCryptoError) as refused:
        guard.mark_seen(timestamp, nonce, "sig-1")
    assert refused.value.code == "replayed"
    guard.mark_seen(timestamp, nonce, "sig-2")  # a different request is not a replay


@pytest.mark.django_db
def test_a_forgotten_request_can_be_delivered_again():
    guard = CallbackGuard(max_age=300)
    timestamp, nonce = str(int(time.time())), f"n{time.monotonic_ns()}"

    key = guard.mark_seen(timestamp, nonce, "sig")
    guard.forget(key)

    guard.mark_seen(timestamp, nonce, "sig")
