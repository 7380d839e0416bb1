"""``mistral_queue_client.webhooks``: verification edge cases and the FastAPI dependency."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from mistral_queue_client import webhooks
from mistral_queue_client.webhooks.fastapi import webhook_receiver
from standardwebhooks import Webhook

SECRET = "whsec_" + base64.b64encode(b"a secret of 24 bytes....").decode()
BODY = b'{"type":"job.succeeded","timestamp":"t","data":{"id":"job_1"}}'


def _headers(body: bytes = BODY, msg_id: str = "msg_1", at: float | None = None) -> dict[str, str]:
    when = datetime.fromtimestamp(at if at is not None else time.time(), tz=UTC)
    signature = Webhook(SECRET).sign(msg_id, when, body.decode())
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(when.timestamp())),
        "webhook-signature": f"v1,{base64.b64encode(b'old').decode()} {signature}",
    }


def test_verify_returns_the_payload_for_a_good_signature_among_several() -> None:
    headers = {k.upper(): v for k, v in _headers().items()}
    assert webhooks.verify(BODY, headers, SECRET)["data"] == {"id": "job_1"}


@pytest.mark.parametrize(
    "tamper",
    [
        lambda h: {**h, "webhook-signature": "garbage-without-a-comma"},
        lambda h: {**h, "webhook-signature": "v1,!!!not base64"},
        lambda h: {k: v for k, v in h.items() if k != "webhook-timestamp"},
        lambda h: {**h, "webhook-timestamp": "soon"},
        lambda h: {**h, "webhook-id": "msg_other"},
    ],
)
def test_verify_refuses_forged_or_malformed_headers(tamper: Any) -> None:
    with pytest.raises(webhooks.WebhookVerificationError):
        webhooks.verify(BODY, tamper(_headers()), SECRET)


def test_verify_refuses_a_stale_timestamp_and_a_non_object_body() -> None:
    with pytest.raises(webhooks.WebhookVerificationError, match="too old"):
        webhooks.verify(BODY, _headers(at=time.time() - 600), SECRET)
    with pytest.raises(webhooks.WebhookVerificationError, match="not a JSON object"):
        webhooks.verify(b"[1]", _headers(b"[1]"), SECRET)
    with pytest.raises(webhooks.WebhookVerificationError):
        webhooks.verify(b"\xff", _headers(), SECRET)


def test_the_fastapi_dependency_runs_each_webhook_id_once_and_again_after_a_failure() -> None:
    handled: list[str] = []
    fail_next = [True]
    app = FastAPI()

    @app.post("/hook")
    def hook(event: Annotated[dict[str, Any], Depends(webhook_receiver(SECRET))]) -> dict[str, str]:
        if fail_next.pop() if fail_next else False:
            raise RuntimeError("handler broke")
        handled.append(event["data"]["id"])
        return {"ok": "yes"}

    client = TestClient(app, raise_server_exceptions=False)
    headers = _headers()
    assert client.post("/hook", content=BODY, headers=headers).status_code == 500
    assert client.post("/hook", content=BODY, headers=headers).status_code == 200
    duplicate = client.post("/hook", content=BODY, headers=_headers())
    forged = client.post("/hook", content=BODY.replace(b"job_1", b"job_2"), headers=headers)

    assert handled == ["job_1"]
    assert duplicate.status_code == 200 and duplicate.json() == {"detail": "duplicate"}
    assert forged.status_code == 400


def test_memory_store_forgets_after_its_ttl_and_bounds_its_size() -> None:
    import asyncio

    async def run() -> list[bool]:
        store = webhooks.MemoryStore(ttl=0.05, max_ids=2)
        first = [await store.claim("a"), await store.claim("a")]
        await asyncio.sleep(0.1)
        again = await store.claim("a")
        await store.claim("b")
        await store.claim("c")  # evicts the oldest, "a"
        return [*first, again, await store.claim("a")]

    assert asyncio.run(run()) == [True, False, True, True]
