"""Signing checked by an independent ``standardwebhooks.Webhook`` verifier, and our verify()."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from mistral_queue.webhooks.errors import PayloadError, SignatureError
from mistral_queue.webhooks.signing import event_id, sign_headers, verify
from tests.webhooks.conftest import new_secret

BODY = json.dumps({"type": "job.succeeded", "data": {"id": "job_1"}}).encode()

# Upstream standardwebhooks test vector (webhooks.md §2).
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TS = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIG = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_upstream_vector() -> None:
    when = datetime.fromtimestamp(VECTOR_TS, UTC)
    headers = sign_headers(VECTOR_ID, VECTOR_BODY, [VECTOR_SECRET], timestamp=when)
    assert headers == {
        "webhook-id": VECTOR_ID,
        "webhook-timestamp": str(VECTOR_TS),
        "webhook-signature": VECTOR_SIG,
        "content-type": "application/json",
    }


def test_non_utc_aware_timestamp_signs_the_same_instant() -> None:
    paris = datetime.fromtimestamp(VECTOR_TS, timezone(timedelta(hours=1)))
    headers = sign_headers(VECTOR_ID, VECTOR_BODY, [VECTOR_SECRET], timestamp=paris)
    assert headers["webhook-signature"] == VECTOR_SIG


def test_naive_timestamp_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        sign_headers(VECTOR_ID, VECTOR_BODY, [VECTOR_SECRET], timestamp=datetime(2024, 1, 1))


def test_independent_library_verifies_our_headers() -> None:
    secret = new_secret()
    headers = sign_headers("msg_abc", BODY, [secret])
    assert Webhook(secret).verify(BODY, headers) == json.loads(BODY)
    assert headers["webhook-timestamp"].isdigit()
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 60


def test_rotation_each_secret_verifies_alone() -> None:
    new, old = new_secret(), new_secret()
    headers = sign_headers("msg_abc", BODY, [new, old])
    signatures = headers["webhook-signature"].split(" ")
    assert len(signatures) == 2
    assert all(s.startswith("v1,") for s in signatures)
    for secret in (new, old):
        Webhook(secret).verify(BODY, headers)
        assert verify(BODY, headers, [secret]) == json.loads(BODY)
    assert verify(BODY, headers, [new_secret(), old]) == json.loads(BODY)


def test_key_bytes_sign_like_their_whsec_form() -> None:
    secret = new_secret()
    key = base64.b64decode(secret.removeprefix("whsec_"))
    when = datetime.now(UTC)
    assert sign_headers("msg_a", BODY, [key], when) == sign_headers("msg_a", BODY, [secret], when)


Tamper = Callable[[bytes, dict[str, str]], tuple[bytes, dict[str, str]]]


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda b, h: (b + b" ", h), id="body"),
        pytest.param(lambda b, h: (b, {**h, "webhook-id": "msg_other"}), id="id"),
        pytest.param(lambda b, h: (b, {**h, "webhook-timestamp": str(int(time.time()) - 1)}),
                     id="timestamp"),
    ],
)  # fmt: skip
def test_tampering_rejected(tamper: Tamper) -> None:
    secret = new_secret()
    body, headers = tamper(BODY, sign_headers("msg_abc", BODY, [secret]))
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, headers)
    with pytest.raises(SignatureError, match="No matching signature"):
        verify(body, headers, [secret])


def test_wrong_key_rejected() -> None:
    headers = sign_headers("msg_abc", BODY, [new_secret()])
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(BODY, headers)
    with pytest.raises(SignatureError, match="No matching signature"):
        verify(BODY, headers, [new_secret(), new_secret()])


@pytest.mark.parametrize(("offset", "word"), [(-301, "too old"), (301, "too new")])
def test_timestamp_outside_tolerance_rejected(offset: int, word: str) -> None:
    secret = new_secret()
    when = datetime.now(UTC) + timedelta(seconds=offset)
    headers = sign_headers("msg_abc", BODY, [secret], timestamp=when)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY, headers)
    with pytest.raises(SignatureError, match=word):
        verify(BODY, headers, [secret])


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("webhook-signature", "v1", "malformed"),
        ("webhook-signature", "v1,a,b", "malformed"),
        ("webhook-signature", "v1,@@notbase64", "malformed"),
        ("webhook-timestamp", "soon", "Invalid Signature Headers"),
        ("webhook-id", "", "Missing required headers"),
    ],
)
def test_malformed_headers_raise_signature_error(field: str, value: str, message: str) -> None:
    secret = new_secret()
    headers = {**sign_headers("msg_abc", BODY, [secret]), field: value}
    with pytest.raises(SignatureError, match=message):
        verify(BODY, headers, [secret])


def test_header_names_are_case_insensitive() -> None:
    secret = new_secret()
    headers = {k.upper(): v for k, v in sign_headers("msg_abc", BODY, [secret]).items()}
    assert verify(BODY, headers, [secret]) == json.loads(BODY)


def test_non_utf8_body_rejected() -> None:
    secret = new_secret()
    headers = sign_headers("msg_abc", BODY, [secret])
    with pytest.raises(SignatureError, match="UTF-8"):
        verify(b"\xff\xfe", headers, [secret])


def test_verified_non_json_body_is_a_payload_error() -> None:
    secret = new_secret()
    headers = sign_headers("msg_abc", b"not json", [secret])
    with pytest.raises(PayloadError):
        verify(b"not json", headers, [secret])


@pytest.mark.parametrize(
    ("msg_id", "secrets"),
    [("msg.a", [VECTOR_SECRET]), ("", [VECTOR_SECRET]), ("msg_a", []), ("msg_a", ["whsec_@@@"])],
)
def test_sign_argument_errors(msg_id: str, secrets: list[str]) -> None:
    with pytest.raises(ValueError):
        sign_headers(msg_id, BODY, secrets)


def test_event_id_is_stable_and_dot_free() -> None:
    assert event_id("job_7Hq2", "job.succeeded") == "msg_7Hq2_job_succeeded"
    assert event_id("job_7Hq2", "job.succeeded") == event_id("job_7Hq2", "job.succeeded")
    assert event_id("job_7Hq2", "job.failed") != event_id("job_7Hq2", "job.succeeded")
    assert "." not in event_id("job_a.b", "job.requires_action.2")
    with pytest.raises(ValueError):
        event_id("", "job.failed")
