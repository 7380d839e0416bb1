"""Hostile tenants: one tenant's secret never verifies another's messages (issue 13).

Every check runs against the real stack: callbacks POSTed by a worker to a real receiver,
verified by two independent Standard Webhooks verifiers (``standardwebhooks`` and ``svix``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest
import standardwebhooks
import svix.webhooks

from mistral_queue.dev.signing import signing_secret
from mistral_queue.dev.stack import LocalStack
from mistral_queue.webhooks.signing import sign_headers
from tests.helpers import Api, Captured, chat_body, raw_receiver, wait_for
from tests.integration.agent_support import tool_server, weather_job

pytestmark = pytest.mark.timeout(90)


def _verifies(secret: str, body: bytes, headers: dict[str, str]) -> tuple[bool, bool]:
    """Whether ``standardwebhooks`` and ``svix`` each accept the message with ``secret``."""
    results = []
    for verifier in (standardwebhooks.Webhook(secret), svix.webhooks.Webhook(secret)):
        try:
            verifier.verify(body, headers)
        except Exception:  # the libraries raise several types for a rejection (webhooks.md §2)
            results.append(False)
        else:
            results.append(True)
    return results[0], results[1]


def _secret(api: Api, path: str = "", method: str = "GET") -> str:
    response = httpx.request(method, f"{api.url}/v1/webhook-secret{path}", headers=api.headers())
    assert response.status_code == 200, response.text
    key: str = response.json()["key"]
    return key


def _callback(api: Api, text: str) -> Captured:
    with raw_receiver() as receiver:
        job = api.submit(chat_body(text, receiver.url))
        api.wait_final(job["id"])
        captured = wait_for(lambda: receiver.for_job(job["id"]), 20, "the callback")
    return captured[0]


def test_each_tenant_reads_its_own_secret_and_none_is_the_master(
    stack: LocalStack, api: Api, other_tenant: Api
) -> None:
    mine, theirs = _secret(api), _secret(other_tenant)
    assert mine.startswith("whsec_") and theirs.startswith("whsec_")
    assert len({mine, theirs, stack.secret}) == 3
    assert mine == signing_secret(stack, "acme")
    response = httpx.get(f"{api.url}/v1/webhook-secret")
    assert response.status_code == 401


def test_a_callback_verifies_only_with_its_own_tenants_secret(
    stack: LocalStack, api: Api, other_tenant: Api
) -> None:
    # Given acme's job called back to a receiver (acme's, or globex's: a callback_url is free)
    captured = _callback(api, "whose callback is this?")
    payload: dict[str, Any] = orjson.loads(captured.body)
    # Then it names its tenant, and only acme's secret verifies it, under both verifiers
    assert payload["data"]["tenant"] == "acme"
    assert _verifies(_secret(api), captured.body, captured.headers) == (True, True)
    assert _verifies(_secret(other_tenant), captured.body, captured.headers) == (False, False)
    assert _verifies(stack.secret, captured.body, captured.headers) == (False, False)


def test_a_tenant_cannot_forge_another_tenants_callback(api: Api, other_tenant: Api) -> None:
    # Given globex signs a fake job.succeeded "for acme" with the only secret it has
    fake = {"type": "job.succeeded", "timestamp": "2026-12-01T00:00:00Z",
            "data": {"id": "job_x", "tenant": "acme", "status": "succeeded"}}  # fmt: skip
    body = orjson.dumps(fake)
    globex_secret = _secret(other_tenant)
    headers = sign_headers("msg_x_job_succeeded", body, [globex_secret], datetime.now(UTC))
    # Then acme's receiver rejects it under both verifiers (while globex's own would accept)
    assert _verifies(_secret(api), body, headers) == (False, False)
    assert _verifies(globex_secret, body, headers) == (True, True)


def test_rotation_signs_with_both_secrets_during_the_grace(
    stack: LocalStack, other_tenant: Api
) -> None:
    # Given globex rotates its secret
    old = _secret(other_tenant)
    new = _secret(other_tenant, "/rotate", "POST")
    assert new != old
    assert _secret(other_tenant) == new
    # When its next callback is sent
    captured = _callback(other_tenant, "after the rotation")
    # Then it carries two v1 signatures, and the old and the new secret each verify it
    signatures = captured.headers["webhook-signature"].split(" ")
    assert len(signatures) == 2 and all(s.startswith("v1,") for s in signatures)
    assert _verifies(new, captured.body, captured.headers) == (True, True)
    assert _verifies(old, captured.body, captured.headers) == (True, True)
    # And a second rotation within the grace drops the oldest secret at once
    newest = _secret(other_tenant, "/rotate", "POST")
    again = _callback(other_tenant, "after the second rotation")
    assert _verifies(newest, again.body, again.headers) == (True, True)
    assert _verifies(new, again.body, again.headers) == (True, True)
    assert _verifies(old, again.body, again.headers) == (False, False)


def test_another_tenant_gets_404_on_every_route_of_a_job(api: Api, other_tenant: Api) -> None:
    job = api.submit(chat_body("only acme may see this"))
    api.wait_final(job["id"], callback=False)
    base = f"{api.url}/v1/jobs/{job['id']}"
    attempts = [
        ("GET", base, None),
        ("GET", f"{base}/events?format=json", None),
        ("GET", f"{base}/results", None),
        ("POST", f"{base}/cancel", None),
        ("POST", f"{base}/tool-results", [{"tool_call_id": "x", "result": "y"}]),
        ("POST", f"{base}/callback/redeliver", None),
    ]
    for method, url, body in attempts:
        response = httpx.request(method, url, json=body, headers=other_tenant.headers(), timeout=10)
        assert response.status_code == 404, (method, url, response.status_code)
        assert response.json()["error"]["type"] == "not_found"
    # Nor does the job show up in the other tenant's listings or event stream
    listed = httpx.get(f"{api.url}/v1/jobs", headers=other_tenant.headers()).json()["data"]
    assert job["id"] not in [j["id"] for j in listed]
    page = httpx.get(
        f"{api.url}/v1/events", params={"format": "json", "job_id": job["id"]},
        headers=other_tenant.headers(),
    )  # fmt: skip
    assert job["id"] not in page.text


def test_a_tool_call_made_for_one_tenant_fails_another_tenants_verifier(
    api: Api, other_tenant: Api
) -> None:
    # Given acme points an HTTP tool at a server that verifies globex's secret
    with tool_server('{"temp_c": 21}') as tools:
        job = api.submit(weather_job(tools.url))
        api.wait_final(job["id"], callback=False)
    [request] = tools.received
    # Then only acme's secret verifies the call, and it says whose job it is
    assert _verifies(_secret(other_tenant), request.body, request.headers) == (False, False)
    assert _verifies(_secret(api), request.body, request.headers) == (True, True)
    assert orjson.loads(request.body)["data"]["tenant"] == "acme"
