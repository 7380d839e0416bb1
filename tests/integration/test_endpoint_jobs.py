"""Embeddings, OCR, moderation, classification and FIM jobs end to end: API → worker →
emulator over HTTP → results lines, events and a signed callback."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import redis
from standardwebhooks import Webhook

from mistral_queue.dev.signing import signing_secret
from mistral_queue.dev.stack import LocalStack
from tests.helpers import Api, emulator_calls, events, raw_receiver, wait_for

pytestmark = pytest.mark.timeout(120)


def results(api: Api, job_id: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{api.url}/v1/jobs/{job_id}/results", headers=api.headers())
    assert response.status_code == 200, response.text
    return [json.loads(line) for line in response.text.splitlines()]


def test_embeddings_job_splits_the_input_and_serves_vectors(
    stack: LocalStack, api: Api, stack_redis: redis.Redis
) -> None:
    texts = [f"text number {i}" for i in range(300)]
    request = {"model": "mistral-embed", "input": texts, "output_dimension": 8}
    with raw_receiver() as receiver:
        job = api.submit({"type": "embeddings", "request": request, "callback_url": receiver.url})
        final = api.wait_final(job["id"], timeout=60)
        captured = wait_for(lambda: receiver.for_job(job["id"]), 10, "the callback")

    assert final["status"] == "succeeded", final["error"]
    summary = final["result"]
    # The default MQ_EMBEDDINGS_INPUTS_PER_REQUEST of 128 gives 128 + 128 + 44.
    assert (summary["count"], summary["requests"]) == (300, 3)
    assert summary["usage"]["prompt_tokens"] == 900
    lines = results(api, job["id"])
    assert [line["index"] for line in lines] == list(range(300))
    assert all(len(line["embedding"]) == 8 for line in lines)
    calls = emulator_calls(stack.emulator.url, job["id"])
    assert [c["status"] for c in calls] == [200, 200, 200]
    progress = [e["data"] for e in events(stack_redis, job["id"]) if e["type"] == "job.progress"]
    assert [p["embedded"] for p in progress] == [128, 256, 300]
    payload = Webhook(signing_secret(stack)).verify(captured[0].body, captured[0].headers)
    assert payload["type"] == "job.succeeded" and payload["data"]["result"] == summary


def test_embeddings_vectors_equal_a_direct_call(stack: LocalStack, api: Api) -> None:
    job = api.submit({"type": "embeddings", "request": {"model": "mistral-embed", "input": "x"}})
    final = api.wait_final(job["id"], callback=False)
    direct = httpx.post(
        f"{stack.emulator.url}/v1/embeddings",
        json={"model": "mistral-embed", "input": ["x"]},
        headers={"Authorization": "Bearer test"},
    ).json()

    assert final["status"] == "succeeded", final["error"]
    assert results(api, job["id"]) == [{"index": 0, "embedding": direct["data"][0]["embedding"]}]


def test_ocr_job_pages_progress_and_retry(
    stack: LocalStack, api: Api, stack_redis: redis.Redis
) -> None:
    document = {"type": "document_url", "document_url": "https://x.test/a.pdf?pages=20"}
    request = {"model": "mistral-ocr-latest", "document": document, "pages": list(range(12))}
    job = api.submit({"type": "ocr", "request": request})
    final = api.wait_final(job["id"], callback=False, timeout=60)

    assert final["status"] == "succeeded", final["error"]
    assert final["result"]["pages"] == 12
    assert final["result"]["usage_info"]["pages_processed"] == 12
    pages = results(api, job["id"])
    assert [p["index"] for p in pages] == list(range(12))
    assert pages[11]["markdown"].startswith("# Page 12")
    progress = [e["data"] for e in events(stack_redis, job["id"]) if e["type"] == "job.progress"]
    # MQ_OCR_PAGES_PER_REQUEST defaults to 8: two calls.
    assert [p["pages_done"] for p in progress] == [8, 12]


def test_ocr_page_ranges_as_text_go_in_one_call(stack: LocalStack, api: Api) -> None:
    document = {"type": "document_url", "document_url": "https://x.test/c.pdf?pages=9"}
    request = {"model": "mistral-ocr-latest", "document": document, "pages": "0-2,8"}
    job = api.submit({"type": "ocr", "request": request})
    final = api.wait_final(job["id"], callback=False)

    assert final["status"] == "succeeded", final["error"]
    assert [p["index"] for p in results(api, job["id"])] == [0, 1, 2, 8]
    assert len(emulator_calls(stack.emulator.url, job["id"])) == 1


def test_ocr_fault_is_retried(stack: LocalStack, api: Api) -> None:
    document = {"type": "document_url", "document_url": "https://x.test/b.pdf [[fault:503]]"}
    job = api.submit(
        {"type": "ocr", "request": {"model": "mistral-ocr-latest", "document": document}}
    )
    final = api.wait_final(job["id"], callback=False)

    assert final["status"] == "succeeded", final["error"]
    assert final["attempts"] == 2
    assert [c["status"] for c in emulator_calls(stack.emulator.url, job["id"])] == [503, 200]


@pytest.mark.parametrize(
    ("kind", "request_body", "path"),
    [
        ("moderation", {"model": "mistral-moderation-latest", "input": ["violence"]},
         "/v1/moderations"),
        ("moderation", {"model": "mistral-moderation-latest",
                        "input": [{"role": "user", "content": "hate"}]}, "/v1/chat/moderations"),
        ("classification", {"model": "ft:classifier:m:1", "input": "hello"},
         "/v1/classifications"),
        ("classification", {"model": "ft:classifier:m:1",
                            "input": {"messages": [{"role": "user", "content": "why?"}]}},
         "/v1/chat/classifications"),
    ],
)  # fmt: skip
def test_moderation_and_classification_jobs(
    stack: LocalStack, api: Api, kind: str, request_body: dict[str, Any], path: str
) -> None:
    with raw_receiver() as receiver:
        job = api.submit({"type": kind, "request": request_body, "callback_url": receiver.url})
        final = api.wait_final(job["id"])
        captured = wait_for(lambda: receiver.for_job(job["id"]), 10, "the callback")

    assert final["status"] == "succeeded", final["error"]
    assert len(final["result"]["results"]) == 1
    assert [c["path"] for c in emulator_calls(stack.emulator.url, job["id"])] == [path]
    payload = Webhook(signing_secret(stack)).verify(captured[0].body, captured[0].headers)
    assert payload["data"]["result"] == final["result"]


def test_fim_job_streams_deltas(stack: LocalStack, api: Api, stack_redis: redis.Redis) -> None:
    request = {"model": "codestral-latest", "prompt": "def f(x):", "suffix": "return y"}
    plain = api.submit({"type": "fim", "request": request})
    streamed = api.submit({"type": "fim", "request": {**request, "stream": True}})

    whole = api.wait_final(plain["id"], callback=False)
    final = api.wait_final(streamed["id"], callback=False)

    assert final["status"] == whole["status"] == "succeeded", final["error"]
    text = whole["result"]["choices"][0]["message"]["content"]
    assert final["result"]["choices"][0]["message"]["content"] == text
    deltas = [e["data"] for e in events(stack_redis, streamed["id"]) if e["type"] == "job.delta"]
    assert deltas and "".join(d["content"] for d in deltas) == text


def test_fim_stream_error_finish_is_retried(stack: LocalStack, api: Api) -> None:
    request = {
        "model": "codestral-latest",
        "prompt": "def f(x): [[fault:stream_error]]",
        "stream": True,
    }
    job = api.submit({"type": "fim", "request": request})
    final = api.wait_final(job["id"], callback=False)

    assert final["status"] == "succeeded", final["error"]
    assert final["attempts"] == 2


def test_bad_requests_name_the_field(api: Api) -> None:
    no_source = api.post({"type": "ocr", "request": {"model": "m", "document": {"type": "file"}}})
    no_input = api.post({"type": "embeddings", "request": {"model": "m", "input": []}})

    assert no_source.status_code == 422 and "document" in no_source.text
    assert no_input.status_code == 422 and "input" in no_input.text


def test_results_of_a_one_call_job_are_409(api: Api) -> None:
    job = api.submit(
        {"type": "moderation", "request": {"model": "mistral-moderation-latest", "input": "x"}}
    )
    response = httpx.get(f"{api.url}/v1/jobs/{job['id']}/results", headers=api.headers())
    assert response.status_code == 409


BATCH_CASES = [
    ("/v1/fim/completions", "codestral-latest", {"prompt": "def f():"}, "choices"),
    ("/v1/moderations", "mistral-moderation-latest", {"input": ["x"]}, "results"),
    ("/v1/chat/moderations", "mistral-moderation-latest",
     {"input": [{"role": "user", "content": "x"}]}, "results"),
    ("/v1/classifications", "ft:classifier:m:1", {"input": "hi"}, "results"),
    ("/v1/chat/classifications", "ft:classifier:m:1",
     {"input": {"messages": [{"role": "user", "content": "hi"}]}}, "results"),
    ("/v1/ocr", "mistral-ocr-latest",
     {"document": {"type": "document_url", "document_url": "https://x.test/d"}}, "pages"),
]  # fmt: skip


@pytest.mark.parametrize("mode", ["api", "direct"])
@pytest.mark.parametrize(("endpoint", "model", "body", "field"), BATCH_CASES)
def test_batch_on_every_endpoint(
    api: Api, mode: str, endpoint: str, model: str, body: dict[str, Any], field: str
) -> None:
    items = [{"custom_id": f"r{i}", "body": body} for i in range(3)]
    request = {"endpoint": endpoint, "model": model, "mode": mode, "requests": items}
    job = api.submit({"type": "batch", "request": request})
    final = api.wait_final(job["id"], callback=False, timeout=60)

    assert final["status"] == "succeeded", final["error"]
    lines = results(api, job["id"])
    assert [line["custom_id"] for line in lines] == ["r0", "r1", "r2"]
    assert all(field in line["response"]["body"] for line in lines)
