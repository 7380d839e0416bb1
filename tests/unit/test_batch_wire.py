"""Mistral's batch wire formats: JSONL splitting, output lines, the create body, our request."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from mistral_queue.api.schemas.batch import BatchRequest
from mistral_queue.mistral.batches import BatchSnapshot, create_body, iter_lines, result_line


@pytest.mark.parametrize(
    "chunks",
    [
        [b'{"a":1}\n{"b":2}\n'],
        [b'{"a":', b'1}\n{"b"', b":2}"],
        [b'{"a":1}\r\n', b"\n\n", b'{"b":2}\n', b"  \n"],
    ],
)
def test_iter_lines_ignores_chunk_boundaries_and_blank_lines(chunks: list[bytes]) -> None:
    assert [line.strip() for line in iter_lines(chunks)] == [b'{"a":1}', b'{"b":2}']


def test_a_successful_output_line_keeps_mistrals_response() -> None:
    raw = {"id": "x", "custom_id": "7", "response": {"status_code": 200, "body": {"k": 1}}}
    assert result_line(raw) == (
        {"custom_id": "7", "response": {"status_code": 200, "body": {"k": 1}}},
        True,
    )


def test_a_failed_output_line_becomes_a_typed_error() -> None:
    raw = {
        "custom_id": "8",
        "response": {"status_code": 429, "body": {"message": "Requests rate limit exceeded"}},
        "error": {"message": "rate limited", "code": "1300"},
    }
    line, ok = result_line(raw)
    assert not ok
    assert line["custom_id"] == "8"
    assert line["error"]["type"] == "rate_limited"
    assert line["error"]["status_code"] == 429
    assert line["error"]["message"] == "Requests rate limit exceeded"
    assert line["error"]["details"]["error"] == {"message": "rate limited", "code": "1300"}


def test_an_error_string_without_a_status_is_an_error() -> None:
    line, ok = result_line({"custom_id": "9", "response": None, "error": "internal failure"})
    assert not ok
    assert line["error"]["message"] == "internal failure"
    assert line["error"]["status_code"] is None


def test_create_body_runs_agent_batches_on_the_chat_endpoint() -> None:
    body = create_body(
        endpoint="/v1/agents/completions",
        input_file="f1",
        job_id="job_1",
        agent_id="ag_1",
        metadata={"team": "a"},
    )
    assert body == {
        "endpoint": "/v1/chat/completions",
        "input_files": ["f1"],
        "metadata": {"team": "a", "mq_job_id": "job_1"},
        "agent_id": "ag_1",
    }


def test_snapshot_reads_counters_and_activity() -> None:
    snapshot = BatchSnapshot.from_json(
        {"id": "b", "status": "CANCELLATION_REQUESTED", "total_requests": 3, "errors": []}
    )
    assert snapshot.active
    assert snapshot.counters() == {"total": 3, "succeeded": 0, "failed": 0}
    assert not BatchSnapshot.from_json({"id": "b", "status": "SOMETHING_NEW"}).active


@pytest.mark.parametrize(
    "request_",
    [
        {"model": "m", "requests": [{"custom_id": "a", "body": {}}] * 2},
        {"model": "m"},
        {"model": "m", "requests": [], "input_file": "f"},
        {"endpoint": "/v1/agents/completions", "model": "m", "input_file": "f"},
        {"endpoint": "/v1/embeddings", "agent_id": "a", "input_file": "f"},
        {"model": "m", "input_file": "../etc/passwd"},
    ],
)
def test_inconsistent_batch_requests_are_refused(request_: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        BatchRequest.model_validate(request_)
