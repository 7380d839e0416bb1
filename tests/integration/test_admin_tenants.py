"""Managed tenants over the admin API and the CLI: keys shown once, stored hashed, revoked at
once on every API process; a deleted tenant's jobs are cancelled (issue 13)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
import redis

from mistral_queue.dev.processes import cli
from mistral_queue.dev.stack import LocalStack
from mistral_queue.jobs import keys
from tests.helpers import Api, chat_body, extra_api
from tests.integration.agent_support import WEATHER, agent_job, create_agent, wait_status

pytestmark = pytest.mark.timeout(120)

ADMIN = "admin-" + "9f3c1a7e5b2d4c6e8a0b"


@pytest.fixture(scope="module")
def admin_apis(stack: LocalStack) -> Iterator[tuple[Api, Api]]:
    """Two more API processes with the admin API on (one admin key, shared Redis)."""
    env = {**stack.env, "MQ_ADMIN_KEY": ADMIN}
    with (
        extra_api(env, "admin-api-1", key=ADMIN) as first,
        extra_api(env, "admin-api-2", key=ADMIN) as second,
    ):
        yield first, second


def _admin(
    api: Api, method: str, path: str = "", body: Any = None, key: str = ADMIN
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"}
    return httpx.request(method, f"{api.url}/v1/admin/tenants{path}", json=body, headers=headers)


def _new_tenant(api: Api, limits: Any = None) -> dict[str, Any]:
    tenant = f"t-{time.time_ns()}"
    response = _admin(api, "POST", "", {"id": tenant, "limits": limits})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def _stored_text(client: redis.Redis) -> str:
    """Every value under our prefix, as one text (to look for secrets in)."""
    parts = []
    for key in client.scan_iter("mq:*"):
        kind = client.type(key)
        if kind == "hash":
            parts.append(orjson.dumps(client.hgetall(key)).decode())
        elif kind == "string":
            parts.append(str(client.get(key)))
        elif kind == "set":
            parts.append(" ".join(sorted(str(m) for m in client.smembers(key))))
    return "\n".join(parts)


def test_a_new_tenant_gets_a_key_shown_once_and_stored_hashed(
    admin_apis: tuple[Api, Api], stack_redis: redis.Redis
) -> None:
    api, _ = admin_apis
    created = _new_tenant(api, {"rps": 2})
    key = created["api_key"]
    assert key.startswith("mqk_") and len(key) >= 40
    assert created["webhook_secret"].startswith("whsec_")
    tenant_api = Api(api.url, key)
    secret = httpx.get(f"{api.url}/v1/webhook-secret", headers=tenant_api.headers()).json()
    assert secret["key"] == created["webhook_secret"]
    # The key is nowhere in Redis; its SHA-256 is
    stored = _stored_text(stack_redis)
    assert key not in stored and key[4:] not in stored
    assert hashlib.sha256(key.encode()).hexdigest() in stored
    # And the admin views never show it
    shown = _admin(api, "GET", f"/{created['id']}").json()
    assert shown["limits"] == {"rps": 2} and [k["key_id"] for k in shown["keys"]] == [
        created["key_id"]
    ]
    assert key not in _admin(api, "GET").text
    patched = _admin(api, "PATCH", f"/{created['id']}", {"limits": {"rps": 5}})
    assert patched.status_code == 200 and patched.json()["limits"] == {"rps": 5}


def test_tenants_cannot_see_each_others_jobs(admin_apis: tuple[Api, Api], api: Api) -> None:
    first, _ = admin_apis
    managed = Api(first.url, _new_tenant(first)["api_key"])
    theirs = managed.submit(chat_body("managed tenant job"))
    mine = api.submit(chat_body("static tenant job"))
    assert managed.get(theirs["id"]).status_code == 200
    for reader, job in ((Api(first.url, api.key), theirs), (managed, mine)):
        assert reader.get(job["id"]).status_code == 404
        cancel = httpx.post(f"{first.url}/v1/jobs/{job['id']}/cancel", headers=reader.headers())
        assert cancel.status_code == 404
    listed = httpx.get(f"{first.url}/v1/jobs", headers=managed.headers()).json()["data"]
    assert [job["id"] for job in listed] == [theirs["id"]]


def test_revocation_takes_effect_at_once_on_every_api_process(
    admin_apis: tuple[Api, Api],
) -> None:
    first, second = admin_apis
    created = _new_tenant(first)
    tenant = created["id"]
    second_key = _admin(first, "POST", f"/{tenant}/keys")
    assert second_key.status_code == 201
    extra = second_key.json()
    for url in (first.url, second.url):
        for key in (created["api_key"], extra["api_key"]):
            assert (
                httpx.get(f"{url}/v1/jobs", headers={"Authorization": f"Bearer {key}"}).status_code
                == 200
            )
    # When the first key is revoked through one process
    assert _admin(first, "DELETE", f"/{tenant}/keys/{created['key_id']}").status_code == 204
    # Then the very next request with it fails on both, while the second key still works
    for url in (first.url, second.url):
        old = {"Authorization": f"Bearer {created['api_key']}"}
        assert httpx.get(f"{url}/v1/jobs", headers=old).status_code == 401
        new = {"Authorization": f"Bearer {extra['api_key']}"}
        assert httpx.get(f"{url}/v1/jobs", headers=new).status_code == 200
    assert _admin(first, "DELETE", f"/{tenant}/keys/{created['key_id']}").status_code == 404


def test_deleting_a_tenant_stops_its_keys_and_cancels_its_jobs(
    stack: LocalStack, admin_apis: tuple[Api, Api], stack_redis: redis.Redis
) -> None:
    first, second = admin_apis
    created = _new_tenant(first)
    managed = Api(first.url, created["api_key"])
    agent_id = create_agent(stack, "deleted-tenant-agent", tools=[WEATHER])
    job = managed.submit(agent_job({"agent_id": agent_id, "inputs": "Weather? city=Paris"}))
    wait_status(managed, job["id"], "requires_action")
    # When the tenant is deleted
    assert _admin(second, "DELETE", f"/{created['id']}").status_code == 204
    # Then its key fails everywhere, its waiting job is cancelled, and its id stays retired
    for url in (first.url, second.url):
        response = httpx.get(f"{url}/v1/jobs", headers=managed.headers())
        assert response.status_code == 401
    assert stack_redis.hget(keys.job(job["id"]), "status") == "cancelled"
    assert _admin(first, "GET", f"/{created['id']}").status_code == 404
    again = _admin(first, "POST", "", {"id": created["id"]})
    assert again.status_code == 409


def test_the_admin_api_takes_only_the_admin_key(admin_apis: tuple[Api, Api], api: Api) -> None:
    first, _ = admin_apis
    managed_key = _new_tenant(first)["api_key"]
    assert _admin(first, "GET", key=api.key).status_code == 403
    assert _admin(first, "GET", key=managed_key).status_code == 403
    assert _admin(first, "GET", key="wrong-admin-key").status_code == 401
    assert httpx.get(f"{first.url}/v1/admin/tenants").status_code == 401
    # The stack's own API has no admin key: the admin API is off there
    assert _admin(api, "GET").status_code == 401
    assert _admin(first, "POST", "", {"id": "acme"}).status_code == 409
    bad = _admin(first, "POST", "", {"id": "../acme"})
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == "id"


def test_the_cli_manages_tenants(admin_apis: tuple[Api, Api]) -> None:
    first, _ = admin_apis
    env = {**os.environ, "MQ_API_URL": first.url, "MQ_ADMIN_KEY": ADMIN}
    tenant = f"cli-{time.time_ns()}"

    def run(*args: str) -> dict[str, Any]:
        done = subprocess.run(cli("tenants", *args), env=env, capture_output=True, text=True,
                              timeout=60)  # fmt: skip
        assert done.returncode == 0, done.stderr
        return orjson.loads(done.stdout) if done.stdout.strip() else {}

    created = run("create", tenant, "--limits", '{"rps": 1}')
    assert created["id"] == tenant and created["api_key"].startswith("mqk_")
    assert tenant in [t["id"] for t in run("list")["data"]]
    added = run("add-key", tenant)
    assert len(run("show", tenant)["keys"]) == 2
    run("revoke-key", tenant, added["key_id"])
    assert [k["key_id"] for k in run("show", tenant)["keys"]] == [created["key_id"]]
    run("delete", tenant)
    refused = subprocess.run(cli("tenants", "show", tenant), env=env, capture_output=True,
                             text=True, timeout=60)  # fmt: skip
    assert refused.returncode == 2 and "404" in refused.stderr
