"""Fault injection over real HTTP: per-request header, body marker, run-level faults."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest

from mistral_queue.dev.emulator.server import RunningEmulator
from tests.emulator.helpers import chat_body, http_client, log_entries


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_header_fails_with_server_error(client: httpx.Client, status: int) -> None:
    response = client.post(
        "/v1/chat/completions", json=chat_body(), headers={"x-emulator-fault": str(status)}
    )

    assert response.status_code == status
    assert response.json()["object"] == "error"
    assert response.json()["type"] == "server_error"
    assert "x-ratelimit-remaining-req-minute" in response.headers


def test_header_429_has_mistral_body_and_retry_after(client: httpx.Client) -> None:
    response = client.post(
        "/v1/chat/completions",
        json=chat_body(),
        headers={"x-emulator-fault": "429:retry_after=2"},
    )

    assert response.status_code == 429
    assert response.headers["retry-after"] == "2"
    assert response.json() == {
        "object": "error",
        "message": "Rate limit exceeded",
        "type": "rate_limited",
        "param": None,
        "code": "1300",
    }


def test_header_drop_closes_without_response(client: httpx.Client) -> None:
    with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
        client.post("/v1/chat/completions", json=chat_body(), headers={"x-emulator-fault": "drop"})

    assert client.post("/v1/chat/completions", json=chat_body()).status_code == 200
    assert log_entries(client)[0]["outcome"] == "dropped"
    assert log_entries(client)[0]["status"] is None


def test_header_cut_stops_mid_body(client: httpx.Client) -> None:
    with pytest.raises(httpx.RemoteProtocolError):
        client.post("/v1/chat/completions", json=chat_body(), headers={"x-emulator-fault": "cut"})
    with pytest.raises(httpx.RemoteProtocolError):
        client.post(
            "/v1/chat/completions",
            json=chat_body("one two three four", stream=True),
            headers={"x-emulator-fault": "cut"},
        )

    entry = log_entries(client)[0]
    assert (entry["status"], entry["outcome"]) == (200, "dropped")


def test_header_latency_delays_the_answer(client: httpx.Client) -> None:
    started = time.monotonic()
    response = client.post(
        "/v1/chat/completions", json=chat_body(), headers={"x-emulator-fault": "latency=300"}
    )

    assert response.status_code == 200
    assert time.monotonic() - started >= 0.3


def test_bad_header_is_a_400(client: httpx.Client) -> None:
    response = client.post(
        "/v1/chat/completions", json=chat_body(), headers={"x-emulator-fault": "explode"}
    )

    assert response.status_code == 400
    assert response.json()["type"] == "emulator_error"


def test_marker_scripts_successive_calls_with_the_same_body(client: httpx.Client) -> None:
    body = chat_body("weather please [[fault:503,429:1,ok]]")
    other = chat_body("another text [[fault:503,429:1,ok]]")

    statuses = [client.post("/v1/chat/completions", json=body) for _ in range(4)]
    other_first = client.post("/v1/chat/completions", json=other)

    assert [r.status_code for r in statuses] == [503, 429, 200, 200]
    assert statuses[1].headers["retry-after"] == "1"
    assert statuses[2].json()["choices"][0]["message"]["content"] == "Echo: weather please"
    assert other_first.status_code == 503


def test_marker_key_ignores_json_key_order(client: httpx.Client) -> None:
    text = "order [[fault:500]]"
    reordered = {"messages": [{"content": text, "role": "user"}], "model": "mistral-small-latest"}

    first = client.post("/v1/chat/completions", json=chat_body(text))
    second = client.post("/v1/chat/completions", json=reordered)

    assert (first.status_code, second.status_code) == (500, 200)


def test_admin_fail_next_then_succeed(client: httpx.Client) -> None:
    set_faults = client.post("/_emulator/faults", json={"fail_next": 2, "fail_with": "502"})
    assert set_faults.json()["pending"] == ["502", "502"]

    statuses = [client.post("/v1/chat/completions", json=chat_body()).status_code for _ in range(3)]

    assert statuses == [502, 502, 200]


def test_admin_script_with_drop(client: httpx.Client) -> None:
    client.post("/_emulator/faults", json={"script": ["drop", "429:capacity", "ok"]})

    with pytest.raises(httpx.RemoteProtocolError):
        client.post("/v1/chat/completions", json=chat_body())
    capacity = client.post("/v1/chat/completions", json=chat_body())

    assert capacity.status_code == 429
    assert capacity.json()["code"] == "3505"
    assert capacity.headers["retry-after"] == "1"
    assert client.post("/v1/chat/completions", json=chat_body()).status_code == 200


def test_admin_rejects_bad_faults(client: httpx.Client) -> None:
    bad_rate = client.post("/_emulator/faults", json={"error_rate": 2})
    bad_step = client.post("/_emulator/faults", json={"script": ["boom"]})

    assert bad_rate.status_code == 422
    assert bad_step.status_code == 422
    assert client.get("/_emulator/faults").json()["pending"] == []


def test_storm_is_reproducible_with_a_seed(
    start_emulator: Callable[..., RunningEmulator],
) -> None:
    def run() -> list[int]:
        emulator = start_emulator(error_rate=0.5, error_statuses="500,503", seed=7)
        with http_client(emulator) as http:
            return [
                http.post("/v1/chat/completions", json=chat_body()).status_code for _ in range(20)
            ]

    first, second = run(), run()

    assert first == second
    assert {500, 503, 200} <= set(first)


def test_drop_rate_storm(client: httpx.Client) -> None:
    client.post("/_emulator/faults", json={"drop_rate": 1.0})

    with pytest.raises(httpx.RemoteProtocolError):
        client.post("/v1/chat/completions", json=chat_body())

    entry = log_entries(client)[-1]
    assert (entry["outcome"], entry["fault"], entry["fault_source"]) == ("dropped", "drop", "storm")


def test_paths_restrict_run_level_faults(client: httpx.Client) -> None:
    client.post("/_emulator/faults", json={"paths": ["/v1/chat/"], "error_rate": 1.0})

    assert client.get("/v1/models").status_code == 200
    assert client.post("/v1/chat/completions", json=chat_body()).status_code >= 429


def test_rps_limit_answers_429(start_emulator: Callable[..., RunningEmulator]) -> None:
    emulator = start_emulator(rps_limit=2)
    with http_client(emulator) as http:
        responses = [http.post("/v1/chat/completions", json=chat_body()) for _ in range(5)]

    limited = [r for r in responses if r.status_code == 429]
    assert limited, "five calls in a row must exceed 2 requests per second"
    assert limited[0].json()["type"] == "rate_limited"
    assert int(limited[0].headers["retry-after"]) >= 1


def test_fixed_latency_from_config(start_emulator: Callable[..., RunningEmulator]) -> None:
    emulator = start_emulator(latency_ms=200)
    with http_client(emulator) as http:
        started = time.monotonic()
        http.post("/v1/chat/completions", json=chat_body())

    assert time.monotonic() - started >= 0.2


def test_delete_faults_and_reset(client: httpx.Client) -> None:
    client.post("/_emulator/faults", json={"fail_next": 5, "latency_ms": 10})
    client.delete("/_emulator/faults")
    assert client.post("/v1/chat/completions", json=chat_body()).status_code == 200

    client.post("/_emulator/faults", json={"fail_next": 1})
    client.post("/_emulator/reset")

    assert client.get("/_emulator/faults").json()["pending"] == []
    assert client.get("/_emulator/faults").json()["faults"]["latency_ms"] == 0
    assert log_entries(client) == []


def test_stream_chunk_delay_paces_frames(start_emulator: Callable[..., RunningEmulator]) -> None:
    emulator = start_emulator(stream_chunk_delay_ms=50)
    with http_client(emulator) as http:
        started = time.monotonic()
        response = http.post("/v1/chat/completions", json=chat_body("a b c d", stream=True))

    # 7 frames (role, 5 tokens, [DONE]) means 6 pauses of 50 ms.
    assert response.status_code == 200
    assert time.monotonic() - started >= 0.3
