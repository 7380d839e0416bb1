"""What every ``/v1/`` call goes through: auth, rate-limit headers and the request log."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable

import httpx

from mistral_queue.dev.emulator.server import RunningEmulator
from tests.emulator.helpers import chat_body, http_client, log_entries


def test_missing_or_malformed_auth_is_401(emulator: RunningEmulator) -> None:
    with httpx.Client(base_url=emulator.base_url, timeout=10.0) as anonymous:
        none = anonymous.post("/v1/chat/completions", json=chat_body())
        basic = anonymous.post(
            "/v1/chat/completions", json=chat_body(), headers={"Authorization": "Basic x"}
        )
        empty = anonymous.post(
            "/v1/chat/completions", json=chat_body(), headers={"Authorization": "Bearer"}
        )

    assert [r.status_code for r in (none, basic, empty)] == [401, 401, 401]
    assert none.json()["message"] == "Unauthorized"
    assert "request_id" in none.json()


def test_configured_keys_are_enforced(start_emulator: Callable[..., RunningEmulator]) -> None:
    emulator = start_emulator(api_keys="good,other")

    with http_client(emulator, key="good") as good, http_client(emulator, key="bad") as bad:
        assert good.get("/v1/models").status_code == 200
        assert bad.get("/v1/models").status_code == 401
        assert bad.get("/_emulator/health").status_code == 200


def test_ratelimit_headers_follow_a_sliding_window(
    start_emulator: Callable[..., RunningEmulator],
) -> None:
    emulator = start_emulator(ratelimit_req_minute=10, ratelimit_tokens_minute=1000)
    with http_client(emulator) as http:
        first = http.post("/v1/chat/completions", json=chat_body("Hello, world!"))
        second = http.post("/v1/chat/completions", json=chat_body("Hello, world!"))

    cost = first.json()["usage"]["total_tokens"]
    assert first.headers["x-ratelimit-limit-req-minute"] == "10"
    assert first.headers["x-ratelimit-limit-tokens-minute"] == "1000"
    assert first.headers["x-ratelimit-tokens-query-cost"] == str(cost)
    assert first.headers["x-ratelimit-remaining-req-minute"] == "9"
    assert second.headers["x-ratelimit-remaining-req-minute"] == "8"
    assert second.headers["x-ratelimit-remaining-tokens-minute"] == str(1000 - 2 * cost)


def test_log_records_each_call(client: httpx.Client) -> None:
    client.post("/v1/chat/completions", json=chat_body(), headers={"X-Request-ID": "req-1"})
    client.post(
        "/v1/chat/completions",
        json=chat_body(stream=True),
        headers={"X-Request-ID": "req-2", "x-emulator-fault": "503"},
    )

    entries = log_entries(client)
    only_failed = log_entries(client, outcome="error")
    by_id = log_entries(client, request_id="req-1")

    assert [e["seq"] for e in entries] == sorted(e["seq"] for e in entries)
    first, second = entries
    assert first["method"] == "POST"
    assert first["path"] == "/v1/chat/completions"
    assert (first["status"], first["outcome"], first["request_id"]) == (200, "ok", "req-1")
    assert len(first["body_sha256"]) == 64
    assert first["duration_ms"] >= 0
    assert first["time"] > 1e9 and first["monotonic"] > 0
    assert (second["status"], second["fault"], second["fault_source"]) == (503, "503", "header")
    assert second["stream"] is True
    assert [e["request_id"] for e in only_failed] == ["req-2"]
    assert [e["request_id"] for e in by_id] == ["req-1"]
    assert log_entries(client, since_seq=first["seq"]) == [second]
    assert log_entries(client, limit=1) == [second]


def test_log_is_complete_under_concurrency(client: httpx.Client) -> None:
    def call(index: int) -> int:
        headers = {"X-Request-ID": f"c-{index}"}
        if index % 3 == 0:
            headers["x-emulator-fault"] = "latency=20+500"
        response = client.post("/v1/chat/completions", json=chat_body(f"n{index}"), headers=headers)
        return response.status_code

    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(call, range(60)))

    entries = log_entries(client)
    assert len(entries) == 60
    assert len({e["seq"] for e in entries}) == 60
    assert {e["request_id"] for e in entries} == {f"c-{i}" for i in range(60)}
    assert statuses.count(500) == 20
    assert sum(e["status"] == 500 for e in entries) == 20


def test_health(client: httpx.Client) -> None:
    assert client.get("/_emulator/health").json() == {"status": "ok", "pending_faults": 0}
