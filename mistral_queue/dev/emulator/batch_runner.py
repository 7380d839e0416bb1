"""Runs a batch job in the background, one input line at a time, at the configured pace.

Each line is answered like the real endpoint would (chat, or any of ``endpoints.ANSWERS``);
a bad line (not JSON, no ``body``, a body the endpoint refuses) becomes a failed result.
Result lines are ``{"id", "custom_id", "response": {"status_code", "body"}, "error"}``
(mistral-api.md §2 "Output JSONL line"): successes go to the output file, failures to the
error file. A ``[[fault:STATUS]]`` marker in a line's user text fails that line.

``FAILED`` and ``TIMEOUT_EXCEEDED`` are forced with the job metadata
``{"emulator_outcome": "FAILED"}`` (or the run-level fault ``batch_outcome``): ``FAILED``
stops right after ``RUNNING``; ``TIMEOUT_EXCEEDED`` stops after half of the lines.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson
from pydantic import ValidationError

from mistral_queue.dev.emulator.batch_jobs import BatchJob
from mistral_queue.dev.emulator.chat import complete, with_agent
from mistral_queue.dev.emulator.chat_schema import ChatCompletionRequest
from mistral_queue.dev.emulator.endpoints import ANSWERS
from mistral_queue.dev.emulator.errors import ApiError, FaultSyntaxError, fault_body
from mistral_queue.dev.emulator.faults import find_marker, parse_script
from mistral_queue.dev.emulator.files import FileStore, read_lines
from mistral_queue.dev.emulator.ids import new_id, unix_now
from mistral_queue.dev.emulator.state import EmulatorState
from mistral_queue.dev.emulator.text import last_user_text
from mistral_queue.dev.emulator.validation import check_chat_model

#: Metadata key that forces a terminal status (``FAILED`` or ``TIMEOUT_EXCEEDED``).
OUTCOME_KEY = "emulator_outcome"
#: Endpoints whose lines the emulator can answer (the Batch API's, but for conversations
#: and audio transcriptions).
ENDPOINTS = ("/v1/chat/completions", *ANSWERS)


@dataclass
class _Line:
    """One result line and, when it failed, the reason counted in the job's ``errors``."""

    record: dict[str, Any]
    failure: str | None


async def run_batch(job: BatchJob, state: EmulatorState, forced: str | None) -> None:
    """Drive ``job`` to a terminal status; ``forced`` is ``FAILED``, ``TIMEOUT_EXCEEDED`` or
    None."""
    pace = state.config.batch_pace_seconds
    await asyncio.sleep(pace)
    if job.status == "CANCELLATION_REQUESTED":
        job.finish("CANCELLED")
        return
    job.status, job.started_at = "RUNNING", unix_now()
    await asyncio.sleep(pace)
    if forced == "FAILED":
        job.failures["Emulated batch failure"] += 1
        job.finish("FAILED")
        return
    limit = job.total // 2 if forced == "TIMEOUT_EXCEEDED" else None
    job.finish(await _process(job, state, limit))


async def _process(job: BatchJob, state: EmulatorState, limit: int | None) -> str:
    files, step = state.files, state.config.batch_lines_per_step
    deadline = job.created_at + job.timeout_hours * 3600
    paths = {"out": files.new_path(), "err": files.new_path()}
    status = "SUCCESS"
    with ExitStack() as stack:
        sinks = {name: stack.enter_context(path.open("wb")) for name, path in paths.items()}
        for index, raw in enumerate(_input_lines(job)):
            if job.status == "CANCELLATION_REQUESTED":
                status = "CANCELLED"
                break
            if (limit is not None and index >= limit) or time.time() > deadline:
                status = "TIMEOUT_EXCEEDED"
                break
            _record(job, execute_line(raw, index, job, state), sinks)
            if (index + 1) % step == 0:
                await asyncio.sleep(state.config.batch_pace_seconds)
    job.output_file = _keep(files, paths["out"], job, "batch_result")
    job.error_file = _keep(files, paths["err"], job, "batch_error")
    return status


def execute_line(raw: bytes, index: int, job: BatchJob, state: EmulatorState) -> _Line:
    """Answer one input line as the job's endpoint would."""
    try:
        item = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _failed(None, ApiError(400, f"Line {index + 1} is not valid JSON"))
    if not isinstance(item, dict) or not isinstance(item.get("body"), dict):
        return _failed(None, ApiError(400, f"Line {index + 1} has no 'body' object"))
    custom_id = item.get("custom_id")
    custom_id = str(custom_id) if custom_id is not None else str(index)
    body = {"model": job.model, **item["body"]} if job.model else item["body"]
    try:
        _line_fault(body)
        answer = _answer(job, body, state)
    except ApiError as exc:
        return _failed(custom_id, exc)
    except ValidationError as exc:
        return _invalid(custom_id, exc)
    response = {"status_code": 200, "body": answer}
    return _Line(_result(custom_id, response, None), None)


def _answer(job: BatchJob, body: dict[str, Any], state: EmulatorState) -> dict[str, Any]:
    if job.endpoint in ANSWERS:
        if job.endpoint == "/v1/fim/completions":
            body = {**body, "stream": False}
        return ANSWERS[job.endpoint](body, state)[0]
    if job.agent_id is not None:
        agent = state.agents.get(job.agent_id)
        request = _chat_request({"model": agent["model"], **body})
        return complete(with_agent(request, agent), agent["model"]).response()
    request = _chat_request(body)
    check_chat_model(state.config, request.model)
    return complete(request, request.model).response()


def _chat_request(body: dict[str, Any]) -> ChatCompletionRequest:
    # A batch line never streams, whatever its body says.
    return ChatCompletionRequest.model_validate(body).model_copy(update={"stream": False})


def _line_fault(body: dict[str, Any]) -> None:
    marker = find_marker(last_user_text(body))
    if marker is None:
        return
    try:
        steps = parse_script(marker)
    except FaultSyntaxError as exc:
        raise ApiError(400, str(exc), type_="emulator_error") from None
    status = steps[0].status
    if status is not None:
        raise ApiError(status, fault_body(status, capacity=steps[0].capacity)["message"])


def _invalid(custom_id: str, exc: ValidationError) -> _Line:
    """A 422 result with FastAPI's ``detail``, as the endpoint itself would answer."""
    errors = exc.errors(include_url=False, include_context=False)
    first = errors[0]
    message = f"Invalid request body: {'.'.join(map(str, first['loc']))}: {first['msg']}"
    detail = [{**error, "loc": ["body", *error["loc"]]} for error in errors]
    return _failed(custom_id, ApiError(422, message), {"detail": detail})


def _failed(custom_id: str | None, exc: ApiError, body: dict[str, Any] | None = None) -> _Line:
    response = {"status_code": exc.status, "body": body or exc.body()}
    error = {"message": exc.message, "code": exc.code or str(exc.status)}
    return _Line(_result(custom_id, response, error), exc.message)


def _result(custom_id: str | None, response: dict[str, Any], error: Any) -> dict[str, Any]:
    return {"id": new_id("batch"), "custom_id": custom_id, "response": response, "error": error}


def _record(job: BatchJob, line: _Line, sinks: Mapping[str, IO[bytes]]) -> None:
    sink = sinks["out"] if line.failure is None else sinks["err"]
    sink.write(orjson.dumps(line.record) + b"\n")
    if line.failure is None:
        job.succeeded += 1
    else:
        job.failed += 1
        job.failures[line.failure] += 1


def _input_lines(job: BatchJob) -> Iterator[bytes]:
    for path in job.sources:
        yield from read_lines(path)


def _keep(files: FileStore, path: Path, job: BatchJob, sample_type: str) -> str | None:
    if path.stat().st_size == 0:
        path.unlink()
        return None
    suffix = "" if sample_type == "batch_result" else "_error"
    stored = files.register(
        path,
        filename=f"{job.id}{suffix}.jsonl",
        purpose="batch",
        sample_type=sample_type,
        source="mistral",
    )
    return stored.id
