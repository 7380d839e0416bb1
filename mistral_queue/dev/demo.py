"""``mistral-queue dev``: the whole stack on one machine, and one demo job through it."""

from __future__ import annotations

import signal
import socket
import time
from typing import Any

import httpx
from mistral_queue_client import Client
from rich.console import Console
from rich.table import Table

from mistral_queue.dev.processes import HOST, free_port
from mistral_queue.dev.signing import signing_secret
from mistral_queue.dev.stack import LocalStack, launch
from mistral_queue.submit import SubmitError, post_job

#: Seconds the demo waits for its callback.
DEMO_TIMEOUT = 60.0


def _port_or_free(port: int) -> int:
    with socket.socket() as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return free_port()
    return port


def _show(console: Console, local: LocalStack) -> None:
    table = Table(title="mistral-queue dev stack", show_header=False)
    table.add_row("intake API", local.api.url + "  (docs: " + local.api.url + "/docs)")
    table.add_row("jobs console", local.api.url + "/console")
    table.add_row("Mistral emulator", local.emulator.url)
    table.add_row("webhook receiver", local.receiver.url + "/hooks")
    if local.flower:
        table.add_row("Flower", local.flower.url)
    table.add_row("Redis (private)", local.redis.url)
    table.add_row("API key", local.api_key)
    table.add_row("webhook secret", signing_secret(local))
    table.add_row("logs", str(local.stack.workdir))
    console.print(table)
    console.print("\nSubmit a job yourself:\n")
    console.print(
        f"curl -s {local.api.url}/v1/jobs -H 'Authorization: Bearer {local.api_key}' "
        '-H \'Content-Type: application/json\' -d \'{"type": "chat", "request": '
        '{"model": "mistral-small-latest", "messages": [{"role": "user", "content": '
        f'"Hello!"}}]}}, "callback_url": "{local.receiver.url}/hooks"}}\'\n',
        soft_wrap=True,
        highlight=False,
    )


def _await_callback(local: LocalStack, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + DEMO_TIMEOUT
    while time.monotonic() < deadline:
        for event in _receiver_events(local):
            if event["body"]["data"]["id"] == job_id:
                found: dict[str, Any] = event
                return found
        time.sleep(0.05)
    raise SubmitError(f"no callback for {job_id} within {DEMO_TIMEOUT} s")


def _receiver_events(local: LocalStack) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = httpx.get(
        local.receiver.url + "/_receiver/events", timeout=5
    ).json()["events"]
    return events


def _print_new_callbacks(console: Console, local: LocalStack, shown: int) -> int:
    """Print the callbacks the receiver verified since the first ``shown``; returns the count."""
    try:
        events = _receiver_events(local)
    except httpx.HTTPError:
        return shown
    for event in events[shown:]:
        data = event["body"]["data"]
        console.print(
            f"callback [green]{event['body']['type']}[/green] for {data['id']} "
            f"(status {data['status']}, webhook-id {event['webhook_id']}, signature verified)"
        )
    return len(events)


def _demo(console: Console, local: LocalStack) -> None:
    body = {
        "type": "chat",
        "request": {
            "model": "mistral-small-latest",
            "messages": [{"role": "user", "content": "Say hello to mistral-queue."}],
        },
        "callback_url": local.receiver.url + "/hooks",
        "metadata": {"demo": True},
    }
    started = time.perf_counter()
    with Client(local.api.url, local.api_key) as client:
        job = post_job(client, body)
    console.print(f"demo job [bold]{job.id}[/bold] accepted ({job.status})")
    event = _await_callback(local, job.id)
    elapsed = (time.perf_counter() - started) * 1000
    data = event["body"]["data"]
    answer = data["result"]["choices"][0]["message"]["content"] if data.get("result") else None
    console.print(
        f"callback [green]{event['body']['type']}[/green] arrived after {elapsed:.0f} ms, "
        f"webhook-id {event['webhook_id']}, signature verified by the receiver"
    )
    console.print(f"answer: {answer!r}\n")


def run_dev(
    *, ports: dict[str, int], flower_port: int | None, demo_only: bool, console: Console
) -> None:
    """Start the stack, run the demo, then keep serving until Ctrl-C (unless ``demo_only``)."""
    # SIGTERM (a supervisor, `timeout`, docker stop) cleans up like Ctrl-C does.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    ports = {name: _port_or_free(port) for name, port in ports.items()}
    flower = _port_or_free(flower_port) if flower_port else None
    with console.status("starting redis, emulator, receiver, api, worker, flower…"):
        local = launch(ports=ports, flower_port=flower)
    try:
        _show(console, local)
        _demo(console, local)
        if demo_only:
            return
        console.print(
            "Everything runs; callbacks show up below as they arrive. Ctrl-C stops it all."
        )
        shown = len(_receiver_events(local))
        while all(proc.alive() for proc in local.stack.procs):
            time.sleep(0.5)
            shown = _print_new_callbacks(console, local, shown)
        dead = [proc for proc in local.stack.procs if not proc.alive()]
        for proc in dead:
            console.print(f"[red]{proc.name} exited[/red]\n{proc.log_tail()}")
    except KeyboardInterrupt:
        console.print("stopping…")
    finally:
        local.stop()
