"""Secrets never leave: no API key, Mistral key or webhook secret in logs, Redis or errors."""

from __future__ import annotations

import base64

import httpx
import pytest
import redis

from mistral_queue.dev.stack import LocalStack
from tests.conftest import API_KEYS
from tests.helpers import Api, chat_body

pytestmark = pytest.mark.timeout(60)


def _secrets(stack: LocalStack) -> list[str]:
    keys = [item.split(":")[0] for item in API_KEYS.split(",")]
    raw = stack.secret.removeprefix("whsec_")
    return [*keys, stack.env["MISTRAL_API_KEY"], stack.secret, raw, base64.b64decode(raw).hex()]


def _redis_text(client: redis.Redis) -> str:
    parts: list[str] = []
    for key in client.scan_iter(count=1000):
        kind = client.type(key)
        if kind == "string":
            parts.append(str(client.get(key)))
        elif kind == "hash":
            parts.append(str(client.hgetall(key)))
        elif kind == "list":
            parts.append(str(client.lrange(key, 0, -1)))
        elif kind == "zset":
            parts.append(str(client.zrange(key, 0, -1)))
        elif kind == "stream":
            parts.append(str(client.xrange(key)))
    return "\n".join(parts)


def test_secrets_appear_in_no_log_record_or_error(
    stack: LocalStack, api: Api, stack_redis: redis.Redis
) -> None:
    # Given jobs that succeed, fail and call back, and a request with a wrong key
    presented = "sk-presented-but-wrong-0123456789"
    response = httpx.post(
        f"{api.url}/v1/jobs", json=chat_body("x"), headers={"Authorization": f"Bearer {presented}"}
    )
    assert response.status_code == 401
    for text in ("keep it secret", "fail it [[fault:400]]"):
        job = api.submit(chat_body(text, stack.receiver.url + "/hooks"))
        api.wait_final(job["id"])
    # Then nothing anywhere carries a secret
    logs = "\n".join(p.read_text(errors="replace") for p in stack.stack.workdir.glob("*.log"))
    stored = _redis_text(stack_redis)
    for secret in [*_secrets(stack), presented]:
        assert secret not in logs, f"a secret is in the logs: {secret[:6]}…"
        assert secret not in stored, f"a secret is in Redis: {secret[:6]}…"
        assert secret not in response.text
    assert "rejected request" in logs  # the failed auth was logged, without the key
