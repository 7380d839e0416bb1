"""Prometheus /metrics after real jobs, and Flower's API seeing our worker and tasks."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from mistral_queue.dev.processes import Stack, cli, free_port, start_http
from mistral_queue.dev.stack import LocalStack
from tests.helpers import Api, chat_body, wait_for

pytestmark = pytest.mark.timeout(120)

FLOWER_AUTH = ("admin", "flower-test-password")


def _samples(api: Api) -> dict[str, list[tuple[dict[str, str], float]]]:
    response = httpx.get(f"{api.url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


def _value(
    samples: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str
) -> float:
    return sum(
        v for lab, v in samples.get(name, []) if all(lab.get(k) == x for k, x in labels.items())
    )


def test_metrics_count_a_job_end_to_end(api: Api) -> None:
    before = _samples(api)
    job = api.submit(chat_body("measure me [[fault:503]]"))
    api.wait_final(job["id"], callback=False)
    after = _samples(api)

    def grew(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert grew("mq_jobs_accepted_total", type="chat") >= 1
    assert grew("mq_jobs_finished_total", type="chat", status="succeeded") >= 1
    assert grew("mq_events_total", type="job.retrying") >= 1
    assert grew("mq_upstream_calls_total", status="503") >= 1
    assert grew("mq_upstream_calls_total", status="200") >= 1
    assert grew("mq_tokens_total", kind="completion") > 0
    assert grew("mq_job_queue_wait_seconds_count", type="chat") >= 1
    assert grew("mq_job_run_seconds_count", type="chat", status="succeeded") >= 1
    assert "mq_queue_depth" in after
    assert {lab["queue"] for lab, _ in after["mq_queue_depth"]} >= {"chat", "callbacks"}


def test_callback_delay_is_measured(api: Api, stack: LocalStack) -> None:
    job = api.submit(chat_body("call me back", stack.receiver.url + "/hooks"))
    api.wait_final(job["id"])
    samples = _samples(api)
    assert _value(samples, "mq_callback_delay_seconds_count", type="chat") >= 1
    assert _value(samples, "mq_events_total", type="callback.delivered") >= 1


@pytest.fixture(scope="module")
def flower(stack: LocalStack) -> Iterator[str]:
    """Flower on the session stack's broker, with basic auth."""
    local = Stack()
    port = free_port()
    env = {**stack.env, "MQ_FLOWER_BASIC_AUTH": ":".join(FLOWER_AUTH)}
    start_http(local, "flower", cli("flower", "--port", str(port)), env, port, "/healthcheck")
    yield f"http://127.0.0.1:{port}"
    local.stop_all()


def test_flower_lists_our_worker_and_tasks(flower: str, api: Api) -> None:
    assert httpx.get(f"{flower}/api/workers").status_code == 401

    def workers() -> dict[str, object] | None:
        found = httpx.get(f"{flower}/api/workers", auth=FLOWER_AUTH, timeout=10).json()
        return found if isinstance(found, dict) and found else None

    names = wait_for(workers, 30, "Flower to see a worker")
    assert any(name.startswith("worker") for name in names)

    job = api.submit(chat_body("seen by flower"))
    api.wait_final(job["id"], callback=False)

    def task() -> dict[str, object] | None:
        tasks = httpx.get(f"{flower}/api/tasks", auth=FLOWER_AUTH, timeout=10).json()
        return tasks.get(job["id"])  # type: ignore[no-any-return]

    seen = wait_for(task, 30, "Flower to see the job's task")
    assert seen["name"] == "mistral_queue.chat.run"
    assert seen["state"] == "SUCCESS"
    # Arguments carry the job id only: no prompt, no secret.
    assert job["id"] in str(seen["args"])
    assert "seen by flower" not in str(seen)


def test_flower_refuses_to_serve_beyond_localhost_without_auth(stack: LocalStack) -> None:
    env = {k: v for k, v in stack.env.items() if k != "MQ_FLOWER_BASIC_AUTH"}
    result = subprocess.run(
        cli("flower", "--host", "0.0.0.0", "--port", str(free_port())),
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "MQ_FLOWER_BASIC_AUTH" in result.stderr


def test_hostile_model_names_leave_metrics_parseable(api: Api) -> None:
    # Given jobs whose model names try to break or extend the exposition format
    hostile = ['x",evil="1', "a\nmq_fake_total 1", "a,status=999", "ünïcode|b=c", "m\\"]
    before = _samples(api)
    jobs = [api.submit(chat_body("hostile", model=model)) for model in hostile]
    for job in jobs:
        api.wait_final(job["id"], callback=False)
    # Then /metrics still parses, mints no label or series, and counts them as "other"
    after = _samples(api)
    assert "mq_fake_total" not in after
    calls = after["mq_upstream_calls_total"]
    assert all(set(labels) == {"model", "status"} for labels, _ in calls)
    models = {labels["model"] for labels, _ in calls}
    assert not models & set(hostile)
    other = _value(after, "mq_upstream_calls_total", model="other")
    assert other - _value(before, "mq_upstream_calls_total", model="other") >= len(hostile)
