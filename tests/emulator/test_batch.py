"""Batch jobs over plain HTTP: lifecycle, results, bad lines, forced outcomes, cancel."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx

from mistral_queue.dev.emulator.server import RunningEmulator
from tests.emulator.helpers import chat_line, http_client, jsonl, wait_job
from tests.emulator.test_files import upload

ORDER = ["QUEUED", "RUNNING", "SUCCESS"]


def create(client: httpx.Client, **body: Any) -> dict[str, Any]:
    """POST /v1/batch/jobs (chat endpoint and model by default); must be 200."""
    payload = {"endpoint": "/v1/chat/completions", "model": "mistral-small-latest", **body}
    response = client.post("/v1/batch/jobs", json=payload)
    assert response.status_code == 200, response.text
    job: dict[str, Any] = response.json()
    return job


def results(client: httpx.Client, file_id: str | None) -> dict[str | None, dict[str, Any]]:
    """The lines of a result file, by ``custom_id``."""
    assert file_id is not None
    lines = client.get(f"/v1/files/{file_id}/content").text.splitlines()
    return {line["custom_id"]: line for line in map(json.loads, lines)}


def test_file_job_runs_to_success_with_outputs_and_errors(client: httpx.Client) -> None:
    lines = [
        chat_line("ok-1", "hello"),
        chat_line("ok-2", "world"),
        {"custom_id": "no-messages", "body": {"max_tokens": 5}},
        chat_line("fails", "boom [[fault:500]]"),
        "this is not json",
    ]
    file_id = upload(client, jsonl(lines)).json()["id"]

    job = create(client, input_files=[file_id], metadata={"run": "1"})
    seen = wait_job(client, job["id"])

    assert job["status"] == "QUEUED"
    assert job["total_requests"] == 5
    statuses = [s["status"] for s in seen]
    assert statuses == sorted(statuses, key=ORDER.index)
    final = seen[-1]
    assert final["status"] == "SUCCESS"
    assert (final["succeeded_requests"], final["failed_requests"]) == (2, 3)
    assert final["completed_requests"] == 5
    assert all(
        s["completed_requests"] == s["succeeded_requests"] + s["failed_requests"] for s in seen
    )
    assert final["started_at"] >= final["created_at"]
    assert final["completed_at"] >= final["started_at"]
    good = results(client, final["output_file"])
    bad = results(client, final["error_file"])
    assert good["ok-1"]["response"]["status_code"] == 200
    assert good["ok-1"]["response"]["body"]["choices"][0]["message"]["content"] == "Echo: hello"
    assert good["ok-1"]["error"] is None
    assert bad["no-messages"]["response"]["status_code"] == 422
    assert bad["no-messages"]["response"]["body"]["detail"][0]["loc"] == ["body", "messages"]
    assert bad["fails"]["response"]["status_code"] == 500
    assert bad[None]["response"]["status_code"] == 400
    assert sum(e["count"] for e in final["errors"]) == 3
    out_meta = client.get(f"/v1/files/{final['output_file']}").json()
    assert (out_meta["sample_type"], out_meta["source"]) == ("batch_result", "mistral")


def test_inline_requests_and_inline_outputs(client: httpx.Client) -> None:
    job = create(client, requests=[chat_line("a", "one"), chat_line("b", "two")])

    final = wait_job(client, job["id"])[-1]
    inline = client.get(f"/v1/batch/jobs/{job['id']}", params={"inline": "true"}).json()

    assert job["input_files"] == []
    assert final["status"] == "SUCCESS"
    assert final["error_file"] is None
    assert {o["custom_id"] for o in inline["outputs"]} == {"a", "b"}
    assert final["outputs"] is None


def test_forced_failed_and_timeout(client: httpx.Client) -> None:
    lines = [chat_line(str(i), f"q{i}") for i in range(10)]
    failed = create(client, requests=lines, metadata={"emulator_outcome": "FAILED"})
    client.post("/_emulator/faults", json={"batch_outcome": "TIMEOUT_EXCEEDED"})
    timed_out = create(client, requests=lines)

    failed_final = wait_job(client, failed["id"])[-1]
    timeout_final = wait_job(client, timed_out["id"])[-1]

    assert failed_final["status"] == "FAILED"
    assert failed_final["errors"] == [{"message": "Emulated batch failure", "count": 1}]
    assert timeout_final["status"] == "TIMEOUT_EXCEEDED"
    assert timeout_final["completed_requests"] == 5
    assert len(results(client, timeout_final["output_file"])) == 5


def test_cancel(start_emulator: Callable[..., RunningEmulator]) -> None:
    emulator = start_emulator(batch_pace_seconds=0.3, batch_lines_per_step=1)
    with http_client(emulator) as http:
        job = create(http, requests=[chat_line(str(i), "x") for i in range(20)])
        cancelled = http.post(f"/v1/batch/jobs/{job['id']}/cancel").json()
        final = wait_job(http, job["id"])[-1]
        again = http.post(f"/v1/batch/jobs/{job['id']}/cancel").json()

    assert cancelled["status"] == "CANCELLATION_REQUESTED"
    assert final["status"] == "CANCELLED"
    assert final["completed_requests"] < 20
    assert again["status"] == "CANCELLED"


def test_list_filters_and_delete(client: httpx.Client) -> None:
    first = create(client, requests=[chat_line("a", "x")], metadata={"team": "red"})
    second = create(client, requests=[chat_line("a", "x")], metadata={"team": "blue"})
    wait_job(client, first["id"])
    wait_job(client, second["id"])

    everything = client.get("/v1/batch/jobs").json()
    red = client.get("/v1/batch/jobs", params={"team": "red"}).json()
    done = client.get("/v1/batch/jobs", params=[("status", "SUCCESS"), ("status", "FAILED")])
    deleted = client.delete(f"/v1/batch/jobs/{first['id']}").json()

    assert everything["object"] == "list"
    assert [j["id"] for j in everything["data"]] == [second["id"], first["id"]]
    assert [j["id"] for j in red["data"]] == [first["id"]]
    assert done.json()["total"] == 2
    assert deleted == {"id": first["id"], "object": "batch", "deleted": True}
    assert client.get(f"/v1/batch/jobs/{first['id']}").status_code == 404


def test_create_validates(client: httpx.Client) -> None:
    def post(**body: Any) -> httpx.Response:
        return client.post("/v1/batch/jobs", json={"endpoint": "/v1/chat/completions", **body})

    assert post().status_code == 400
    assert post(input_files=["nope"]).status_code == 404
    assert post(requests=[chat_line("a", "x")], model="nope").status_code == 400
    assert post(requests=[{"custom_id": "a"}]).status_code == 422
    assert (
        post(requests=[chat_line("a", "x")], endpoint="/v1/audio/transcriptions").status_code == 400
    )


def test_embeddings_batch_and_agent_batch(client: httpx.Client) -> None:
    embed_line = {"custom_id": "e", "body": {"input": ["a", "b"]}}
    embeddings = create(
        client, endpoint="/v1/embeddings", model="mistral-embed", requests=[embed_line]
    )
    agent = client.post(
        "/v1/agents", json={"model": "mistral-small-latest", "name": "a", "instructions": "x"}
    ).json()
    by_agent = create(client, model=None, agent_id=agent["id"], requests=[chat_line("c", "hi")])

    embedded = results(client, wait_job(client, embeddings["id"])[-1]["output_file"])["e"]
    answered = results(client, wait_job(client, by_agent["id"])[-1]["output_file"])["c"]

    assert len(embedded["response"]["body"]["data"]) == 2
    assert len(embedded["response"]["body"]["data"][0]["embedding"]) == 1024
    assert answered["response"]["body"]["choices"][0]["message"]["content"] == "Echo: hi"


def test_ten_thousand_lines(start_emulator: Callable[..., RunningEmulator]) -> None:
    emulator = start_emulator(batch_pace_seconds=0, batch_lines_per_step=500)
    lines = [chat_line(f"id-{i}", f"question {i}") for i in range(10_000)]
    lines[1234] = {"custom_id": "id-1234", "body": {"messages": []}}
    with http_client(emulator) as http:
        file_id = upload(http, jsonl(lines)).json()["id"]
        job = create(http, input_files=[file_id])
        final = wait_job(http, job["id"], deadline=120.0)[-1]
        good = results(http, final["output_file"])
        bad = results(http, final["error_file"])

    assert final["status"] == "SUCCESS"
    assert (final["total_requests"], final["succeeded_requests"], final["failed_requests"]) == (
        10_000,
        9_999,
        1,
    )
    assert len(good) == 9_999
    assert list(bad) == ["id-1234"]
    assert good["id-9999"]["response"]["body"]["choices"][0]["message"]["content"] == (
        "Echo: question 9999"
    )
