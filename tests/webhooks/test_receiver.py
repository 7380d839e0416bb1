"""The development receiver: control API, verification answers, printing, and the CLI server."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import time
from typing import Any

import httpx
import pytest
from rich.console import Console

from mistral_queue.dev.receiver import RunningReceiver, create_receiver_app, running_receiver
from mistral_queue.dev.receiver_console import console_printer, preview
from mistral_queue.webhooks.signing import sign_headers
from tests.webhooks.conftest import events, new_secret, plan

BODY = json.dumps(
    {
        "type": "job.succeeded",
        "timestamp": "2026-01-01T00:00:00Z",
        "data": {
            "id": "job_r1",
            "status": "succeeded",
            "result": {"choices": [{"message": {"content": "Bonjour [bold]Paris[/bold]!"}}]},
        },
    }
).encode()


def post(receiver: RunningReceiver, headers: dict[str, str], body: bytes = BODY) -> httpx.Response:
    return httpx.post(
        f"{receiver.url}/in", content=body, headers=headers, timeout=10, trust_env=False
    )


def test_unsigned_post_is_401_with_a_json_error(receiver: RunningReceiver) -> None:
    response = post(receiver, {"content-type": "application/json"})
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "invalid_signature"
    assert response.json()["error"]["message"] == "Missing required headers"
    got = events(receiver)
    assert got["rejected"] == 1 and got["events"] == []
    assert got["rejections"][0]["reason"] == "Missing required headers"


def test_signed_non_json_is_400(receiver: RunningReceiver, secret: str) -> None:
    response = post(receiver, sign_headers("msg_1", b"plain", [secret]), b"plain")
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_body"


def test_bad_signature_does_not_consume_the_plan(receiver: RunningReceiver, secret: str) -> None:
    plan(receiver, fail_next=[503])
    assert post(receiver, sign_headers("msg_1", BODY, [new_secret()])).status_code == 401
    assert post(receiver, sign_headers("msg_1", BODY, [secret])).status_code == 503
    assert post(receiver, sign_headers("msg_1", BODY, [secret])).status_code == 200


def test_events_record_and_duplicates(receiver: RunningReceiver, secret: str) -> None:
    for _ in range(2):
        assert post(receiver, sign_headers("msg_dup", BODY, [secret])).json() == {
            "received": "msg_dup"
        }
    first, second = events(receiver)["events"]
    assert first["body"] == json.loads(BODY)
    assert first["received_at"].endswith("+00:00")
    assert (first["duplicate"], second["duplicate"]) == (False, True)


def test_reset_forgets_everything(receiver: RunningReceiver, secret: str) -> None:
    plan(receiver, fail_next=[500, 500])
    post(receiver, sign_headers("msg_1", BODY, [secret]))
    post(receiver, {})
    httpx.post(f"{receiver.url}/_receiver/reset", timeout=5, trust_env=False).raise_for_status()
    assert events(receiver) == {"events": [], "failed": [], "rejected": 0, "rejections": []}
    assert post(receiver, sign_headers("msg_1", BODY, [secret])).status_code == 200


@pytest.mark.parametrize(
    "body",
    [{"fail_next": [100]}, {"status_after": 700}, {"retry_after": -1}, {"delay": 3600}],
)
def test_plan_is_validated(receiver: RunningReceiver, body: dict[str, Any]) -> None:
    response = httpx.post(f"{receiver.url}/_receiver/plan", json=body, timeout=5, trust_env=False)
    assert response.status_code == 422


def test_printer_gets_every_outcome(secret: str) -> None:
    seen: list[dict[str, Any]] = []
    with running_receiver([secret], printer=seen.append) as server:
        plan(server, fail_next=[500])
        post(server, sign_headers("msg_p", BODY, [secret]))
        post(server, sign_headers("msg_p", BODY, [secret]))
        post(server, sign_headers("msg_p", BODY, [new_secret()]))
    assert [r["outcome"] for r in seen] == ["failed", "accepted", "rejected"]
    assert seen[0]["status"] == 500 and seen[1]["webhook_id"] == "msg_p"


def render(record: dict[str, Any]) -> str:
    out = io.StringIO()
    console_printer(Console(file=out, width=200, color_system=None))(record)
    return out.getvalue()


def test_console_shows_type_job_status_id_and_result_without_markup() -> None:
    record = {
        "outcome": "accepted",
        "webhook_id": "msg_r1_job_succeeded",
        "received_at": "2026-01-01T12:00:00.000+00:00",
        "body": json.loads(BODY),
        "status": 200,
    }
    text = render(record)
    for part in ("✓", "job.succeeded", "job_r1", "succeeded", "msg_r1_job_succeeded"):
        assert part in text
    assert "Bonjour [bold]Paris[/bold]!" in text


def test_console_shows_planned_failures_and_rejections() -> None:
    failed = render(
        {"outcome": "failed", "status": 503, "webhook_id": "m", "body": json.loads(BODY)}
    )
    assert "answered 503 (planned)" in failed and "Bonjour" not in failed
    rejected = render(
        {"outcome": "rejected", "reason": "No matching signature found", "webhook_id": "m"}
    )
    assert "rejected" in rejected and "No matching signature found" in rejected


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"error": {"type": "upstream", "message": "model not found"}}, "model not found"),
        ({"pending_tool_calls": [{"name": "get_weather"}, {"name": "book"}]}, "get_weather, book"),
        ({"result": {"outputs": [{"content": [{"type": "text", "text": "done"}]}]}}, "done"),
        ({"progress": {"done": 3, "total": 4}}, '"done": 3'),
        ({"result": {"choices": [{"message": {"content": "x" * 500}}]}}, "…"),
    ],
)
def test_preview(data: dict[str, Any], expected: str) -> None:
    view = preview(data)
    assert view is not None and expected in view[1]
    assert len(view[1]) <= 110


def test_app_needs_a_secret() -> None:
    with pytest.raises(ValueError):
        create_receiver_app([])


def test_serve_receiver_prints_deliveries(secret: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code = (
        "import sys; from mistral_queue.dev.receiver import serve_receiver; "
        f"serve_receiver('127.0.0.1', {port}, [sys.argv[1]])"
    )
    env = {**os.environ, "COLUMNS": "200", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-c", code, secret],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(url, timeout=1, trust_env=False)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "receiver did not start"
                time.sleep(0.05)
        response = httpx.post(
            url, content=BODY, headers=sign_headers("msg_cli", BODY, [secret]), trust_env=False
        )
        assert response.status_code == 200
    finally:
        proc.terminate()
        output, _ = proc.communicate(timeout=20)
    text = output.decode()
    assert f"listening on http://127.0.0.1:{port}/" in text
    assert "job.succeeded" in text and "job_r1" in text and "msg_cli" in text
