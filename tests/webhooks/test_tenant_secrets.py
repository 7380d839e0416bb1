"""Per-tenant signing secrets: HKDF derivation and the rotation grace, against a real Redis."""

from __future__ import annotations

import base64
import time

import pytest
import redis
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from mistral_queue.config import Settings
from mistral_queue.jobs import keys
from mistral_queue.secret_rules import decode_webhook_secret
from mistral_queue.webhooks.tenant_secrets import (
    as_whsec,
    derive,
    keys_from_state,
    tenant_signing_keys,
)

MASTER = bytes(range(1, 33))
MASTER_WHSEC = "whsec_" + base64.b64encode(MASTER).decode()


def _settings(**extra: object) -> Settings:
    return Settings(webhook_secret=MASTER_WHSEC, api_keys="key-acme:acme", **extra)  # type: ignore[arg-type]


def test_derivation_is_rfc5869_hkdf_over_tenant_and_counter() -> None:
    expected = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=b"mistral-queue/tenant-webhook-secret/v1",
        info=b'["acme", 0]',
    ).derive(MASTER)
    assert derive(MASTER, "acme", 0) == expected
    assert as_whsec(expected).startswith("whsec_")


def test_every_tenant_and_counter_gets_its_own_key_and_none_is_the_master() -> None:
    derived = {
        derive(MASTER, tenant, counter)
        for tenant, counter in [("acme", 0), ("acme", 1), ("globex", 0), ("a", 10), ("a1", 0)]
    }
    assert len(derived) == 5
    assert MASTER not in derived
    # A tenant id that looks like a separator cannot collide with another one.
    assert derive(MASTER, 'a", 1', 0) != derive(MASTER, "a", 1)


def test_previous_key_signs_only_within_the_grace() -> None:
    settings = _settings(webhook_rotation_grace_seconds=100)
    state = {"counter": "2", "previous": "1", "rotated_at": "1000"}
    new, old = derive(MASTER, "acme", 2), derive(MASTER, "acme", 1)
    assert keys_from_state(settings, "acme", state, now=1099) == [new, old]
    assert keys_from_state(settings, "acme", state, now=1100) == [new]
    assert keys_from_state(settings, "acme", {}, now=0) == [derive(MASTER, "acme", 0)]


def test_signing_keys_follow_the_stored_rotation(private_redis: redis.Redis) -> None:
    settings = _settings(redis_url="redis://unused", webhook_rotation_grace_seconds=0)
    tenant = f"t{time.time_ns()}"
    assert tenant_signing_keys(private_redis, settings, tenant) == [derive(MASTER, tenant, 0)]
    private_redis.hset(
        keys.tenant_webhook_secret(tenant),
        mapping={"counter": "3", "previous": "2", "rotated_at": repr(time.time())},
    )
    # Grace 0: the previous key stops signing at once.
    assert tenant_signing_keys(private_redis, settings, tenant) == [derive(MASTER, tenant, 3)]


def test_no_master_key_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="MQ_WEBHOOK_SECRET"):
        keys_from_state(Settings(), "acme", {})


@pytest.mark.parametrize(
    "key", [bytes(32), b"\xff" * 32, b"\x01\x02" * 16, b"abcd" * 8, bytes([0] * 30 + [1, 2])]
)
def test_weak_master_keys_are_refused(key: bytes) -> None:
    with pytest.raises(ValueError, match="random secret"):
        decode_webhook_secret("whsec_" + base64.b64encode(key).decode())


def test_a_random_master_key_is_accepted() -> None:
    assert decode_webhook_secret(MASTER_WHSEC) == MASTER
