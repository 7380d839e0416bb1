"""Event streams, token streaming, listing, cancel, idempotency and redelivery over real HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from httpx_sse import connect_sse

from mistral_queue.dev.stack import LocalStack
from tests.helpers import Api, chat_body, emulator_calls, raw_receiver, wait_for

pytestmark = pytest.mark.timeout(90)


@contextmanager
def emulator_faults(stack: LocalStack, **faults: Any) -> Iterator[None]:
    """Run-level emulator faults for the block only."""
    httpx.post(f"{stack.emulator.url}/_emulator/faults", json=faults).raise_for_status()
    try:
        yield
    finally:
        reset = dict.fromkeys(faults, 0)
        httpx.post(f"{stack.emulator.url}/_emulator/faults", json=reset).raise_for_status()


def sse(
    api: Api, path: str, last_event_id: str | None = None, limit: int | None = None
) -> list[dict[str, Any]]:
    """Read SSE frames (all, or the first ``limit``) as ``{"id", "event", "data"}``."""
    headers = api.headers(**({"Last-Event-ID": last_event_id} if last_event_id else {}))
    frames: list[dict[str, Any]] = []
    with (
        httpx.Client(timeout=30) as client,
        connect_sse(client, "GET", api.url + path, headers=headers) as source,
    ):
        assert source.response.status_code == 200, source.response.read()
        for event in source.iter_sse():
            if not event.data:
                # httpx-sse reports a keep-alive comment after an event as an empty event.
                continue
            frames.append({"id": event.id, "event": event.event, "data": json.loads(event.data)})
            if limit is not None and len(frames) == limit:
                break
    return frames


def streaming_job(
    api: Api, text: str = "Tell me a long story about queues and webhooks"
) -> dict[str, Any]:
    return api.submit(chat_body(text + " " + "more words " * 40, stream=True))


def test_sse_resume_loses_and_repeats_nothing(stack: LocalStack, api: Api) -> None:
    with emulator_faults(stack, stream_chunk_delay_ms=20):
        job = streaming_job(api)
        path = f"/v1/jobs/{job['id']}/events"
        first = sse(api, path, limit=4)
        rest = sse(api, path, last_event_id=first[-1]["id"])
    ids = [f["id"] for f in first + rest]
    assert len(ids) == len(set(ids))
    assert ids == sorted(ids, key=lambda i: tuple(map(int, i.split("-"))))
    assert (first + rest)[-1]["event"] == "job.succeeded"
    # A fresh subscriber sees the same log, and a second one agrees with it.
    whole = sse(api, path)
    assert [f["id"] for f in whole] == ids
    assert [f["id"] for f in sse(api, path)] == ids


def test_token_deltas_arrive_before_success_and_add_up(stack: LocalStack, api: Api) -> None:
    with emulator_faults(stack, stream_chunk_delay_ms=5):
        job = streaming_job(api, "Stream this answer please")
        frames = sse(api, f"/v1/jobs/{job['id']}/events")
    kinds = [f["event"] for f in frames]
    assert "job.delta" in kinds
    assert kinds.index("job.delta") < kinds.index("job.succeeded")
    text = "".join(f["data"]["data"]["content"] for f in frames if f["event"] == "job.delta")
    final = api.wait_final(job["id"], callback=False)
    assert text == final["result"]["choices"][0]["message"]["content"]
    assert final["result"]["usage"]["completion_tokens"] > 0
    assert final["result"]["object"] == "chat.completion"


def test_bad_last_event_id_is_422(api: Api) -> None:
    job = api.submit(chat_body("hi"))
    response = httpx.get(
        f"{api.url}/v1/jobs/{job['id']}/events", headers=api.headers(**{"Last-Event-ID": "nope"})
    )
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "Last-Event-ID"


def test_cancel_a_retrying_job(stack: LocalStack, api: Api) -> None:
    # A 503 with Retry-After: a 429 would also pause the whole deployment (by design).
    job = api.submit(chat_body("long wait [[fault:503:retry_after=30]]"))
    wait_for(lambda: api.job(job["id"])["status"] == "retrying", 15, "retrying")
    response = httpx.post(f"{api.url}/v1/jobs/{job['id']}/cancel", headers=api.headers())
    assert response.json()["status"] == "cancelled"
    assert len(emulator_calls(stack.emulator.url, job["id"])) == 1


def test_cancel_a_running_stream_stops_it(stack: LocalStack, api: Api) -> None:
    with emulator_faults(stack, stream_chunk_delay_ms=100):
        job = streaming_job(api)
        sse(api, f"/v1/jobs/{job['id']}/events", limit=3)  # queued, started, a first delta
        response = httpx.post(f"{api.url}/v1/jobs/{job['id']}/cancel", headers=api.headers())
        assert response.json()["status"] == "cancelled"
        frames = sse(api, f"/v1/jobs/{job['id']}/events")
    assert frames[-1]["event"] == "job.cancelled"
    assert "job.succeeded" not in [f["event"] for f in frames]


def test_cancel_after_finish_is_409(api: Api) -> None:
    job = api.submit(chat_body("quick"))
    api.wait_final(job["id"], callback=False)
    response = httpx.post(f"{api.url}/v1/jobs/{job['id']}/cancel", headers=api.headers())
    assert response.status_code == 409
    assert response.json()["error"]["details"] == {"status": "succeeded"}


def test_concurrent_idempotent_posts_create_one_job(api: Api) -> None:
    body = chat_body("exactly once")

    def post(_: int) -> httpx.Response:
        return api.post(body, **{"Idempotency-Key": "idem-concurrent-1"})

    with ThreadPoolExecutor(20) as pool:
        responses = list(pool.map(post, range(20)))
    assert {r.json()["id"] for r in responses} == {responses[0].json()["id"]}
    assert sorted(r.status_code for r in responses) == [200] * 19 + [202]
    assert all(
        r.headers.get("Idempotent-Replayed") == "true" for r in responses if r.status_code == 200
    )
    other = api.post(chat_body("another body"), **{"Idempotency-Key": "idem-concurrent-1"})
    assert other.status_code == 409
    assert other.json()["error"]["type"] == "idempotency_conflict"


def test_redeliver_sends_the_same_webhook_id(stack: LocalStack, api: Api) -> None:
    with raw_receiver() as receiver:
        job = api.submit(chat_body("redeliver me", receiver.url))
        api.wait_final(job["id"])
        response = httpx.post(
            f"{api.url}/v1/jobs/{job['id']}/callback/redeliver", headers=api.headers()
        )
        assert response.status_code == 202, response.text
        wait_for(lambda: len(receiver.for_job(job["id"])) == 2, 10, "the redelivery")
        deliveries = receiver.for_job(job["id"])
    assert deliveries[0].headers["webhook-id"] == deliveries[1].headers["webhook-id"]
    final = api.wait_final(job["id"])
    assert final["callback"]["attempts"] == 2


def test_listing_pages_newest_first(api: Api, other_tenant: Api) -> None:
    ids = [other_tenant.submit(chat_body(f"list {i}"))["id"] for i in range(5)]
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = httpx.get(f"{api.url}/v1/jobs", params=params, headers=other_tenant.headers()).json()
        seen += [job["id"] for job in page["data"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen[:5] == list(reversed(ids))
    assert len(seen) == len(set(seen))
    failed = httpx.get(
        f"{api.url}/v1/jobs", params={"status": "failed"}, headers=other_tenant.headers()
    )
    assert all(job["status"] == "failed" for job in failed.json()["data"])


def test_tenant_events_as_a_json_page(api: Api, other_tenant: Api) -> None:
    job = api.submit(chat_body("event page"))
    api.wait_final(job["id"], callback=False)
    page = httpx.get(
        f"{api.url}/v1/events",
        params={"format": "json", "job_id": job["id"], "limit": 1000},
        headers=api.headers(),
    ).json()
    assert [e["type"] for e in page["data"]][:2] == ["job.queued", "job.started"]
    theirs = httpx.get(
        f"{api.url}/v1/events",
        params={"format": "json", "job_id": job["id"], "limit": 1000},
        headers=other_tenant.headers(),
    ).json()
    assert theirs["data"] == []


@pytest.mark.parametrize(
    ("method", "suffix"),
    [("GET", ""), ("GET", "/events"), ("POST", "/cancel"), ("POST", "/callback/redeliver")],
)
def test_every_job_route_hides_other_tenants(
    api: Api, other_tenant: Api, method: str, suffix: str
) -> None:
    job = api.submit(chat_body("private", "http://127.0.0.1:9/hook"))
    response = httpx.request(
        method, f"{api.url}/v1/jobs/{job['id']}{suffix}", headers=other_tenant.headers()
    )
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found"
