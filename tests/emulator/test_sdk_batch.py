"""The official SDK's files.*, batch.jobs.* and embeddings against the emulator."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator

import pytest
from mistralai.client import Mistral, errors, models

from mistral_queue.dev.emulator.server import RunningEmulator
from tests.emulator.helpers import API_KEY, TERMINAL, chat_line, jsonl


@pytest.fixture
def sdk(emulator: RunningEmulator) -> Iterator[Mistral]:
    with Mistral(api_key=API_KEY, server_url=emulator.base_url, timeout_ms=10_000) as client:
        yield client


def wait(sdk: Mistral, job_id: str, deadline: float = 30.0) -> models.BatchJob:
    """Poll with the SDK until the job is terminal."""
    stop = time.monotonic() + deadline
    while time.monotonic() < stop:
        job = sdk.batch.jobs.get(job_id=job_id)
        if job.status in TERMINAL:
            return job
        time.sleep(0.02)
    raise AssertionError(f"batch job {job_id} not finished after {deadline} s")


def test_files_upload_retrieve_download_list_delete(sdk: Mistral) -> None:
    content = jsonl([chat_line("a", "x"), chat_line("b", "y")])

    uploaded = sdk.files.upload(
        file=models.File(file_name="in.jsonl", content=content), purpose="batch"
    )
    retrieved = sdk.files.retrieve(file_id=uploaded.id)
    downloaded = sdk.files.download(file_id=uploaded.id).read()
    listed = sdk.files.list(purpose="batch")
    deleted = sdk.files.delete(file_id=uploaded.id)

    assert (uploaded.size_bytes, uploaded.num_lines, uploaded.purpose) == (len(content), 2, "batch")
    assert retrieved.deleted is False
    assert downloaded == content
    assert [f.id for f in listed.data] == [uploaded.id]
    assert deleted.deleted is True
    with pytest.raises(errors.SDKError) as missing:
        sdk.files.retrieve(file_id=uploaded.id)
    assert missing.value.status_code == 404


def test_batch_jobs_create_get_list(sdk: Mistral) -> None:
    content = jsonl([chat_line("a", "one"), {"custom_id": "b", "body": {}}])
    uploaded = sdk.files.upload(
        file=models.File(file_name="in.jsonl", content=content), purpose="batch"
    )

    job = sdk.batch.jobs.create(
        input_files=[uploaded.id],
        endpoint="/v1/chat/completions",
        model="mistral-small-latest",
        metadata={"suite": "sdk"},
    )
    final = wait(sdk, job.id)
    listed = sdk.batch.jobs.list(metadata={"suite": "sdk"}, status=["SUCCESS"])

    assert job.status == "QUEUED"
    assert (final.status, final.succeeded_requests, final.failed_requests) == ("SUCCESS", 1, 1)
    assert isinstance(final.output_file, str) and isinstance(final.error_file, str)
    output = [
        json.loads(line) for line in sdk.files.download(file_id=final.output_file).iter_lines()
    ]
    assert output[0]["custom_id"] == "a"
    assert output[0]["response"]["body"]["choices"][0]["message"]["content"] == "Echo: one"
    assert listed.total == 1
    assert listed.data is not None and listed.data[0].id == job.id


def test_batch_inline_and_cancel(start_emulator: Callable[..., RunningEmulator]) -> None:
    emulator = start_emulator(batch_pace_seconds=0.3, batch_lines_per_step=1)
    requests = [
        models.BatchRequest(custom_id=str(i), body=chat_line(str(i), "x")["body"])
        for i in range(10)
    ]
    with Mistral(api_key=API_KEY, server_url=emulator.base_url, timeout_ms=10_000) as sdk:
        job = sdk.batch.jobs.create(
            requests=requests, endpoint="/v1/chat/completions", model="mistral-small-latest"
        )
        cancelling = sdk.batch.jobs.cancel(job_id=job.id)
        final = wait(sdk, job.id)

    assert job.input_files == []
    assert cancelling.status == "CANCELLATION_REQUESTED"
    assert final.status == "CANCELLED"


def test_inline_outputs_and_embeddings(sdk: Mistral) -> None:
    job = sdk.batch.jobs.create(
        requests=[models.BatchRequest(custom_id="e", body={"input": "hello"})],
        endpoint="/v1/embeddings",
        model="mistral-embed",
    )
    wait(sdk, job.id)
    inline = sdk.batch.jobs.get(job_id=job.id, inline=True)
    direct = sdk.embeddings.create(model="mistral-embed", inputs=["hello", "world"])

    assert isinstance(inline.outputs, list)
    assert inline.outputs[0]["custom_id"] == "e"
    assert len(direct.data) == 2
    assert direct.data[0].embedding == inline.outputs[0]["response"]["body"]["data"][0]["embedding"]
    assert direct.usage.prompt_tokens == 2
