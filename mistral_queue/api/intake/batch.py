"""Accepting a batch job: its limits, its requests stored under the job, its input file checked.

The job record's ``request`` keeps only a summary (endpoint, model or agent, mode, count,
input file, Mistral metadata); the request lines go to the job's ``inputs`` hash and their
``custom_id`` positions to its ``index`` hash (``jobs.keys``), written one page at a
time before the job is created, so a worker never sees a job without its requests.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
import orjson
import redis.asyncio as aredis

from mistral_queue.api.errors import ApiError
from mistral_queue.api.schemas.batch import BatchRequest
from mistral_queue.api.schemas.jobs import BatchJobCreate
from mistral_queue.config import Settings
from mistral_queue.jobs import fields, keys
from mistral_queue.jobs.batchstate import PAGE
from mistral_queue.mistral.client import get_client
from mistral_queue.mistral.errors import RequestRejected, UpstreamError
from mistral_queue.mistral.ids import id_path


@dataclass(frozen=True)
class PreparedBatch:
    """A batch ready to be stored as a job: its summary and the digest of its lines."""

    job_id: str
    #: The job's ``request`` field.
    summary: dict[str, Any]
    #: sha256 over the envelope and every request line (for the Idempotency-Key check).
    digest: str

    async def discard(self, client: aredis.Redis) -> None:
        """Delete the stored requests of a batch that did not become a job."""
        await client.delete(*keys.batch_keys(self.job_id))


async def accept(client: aredis.Redis, settings: Settings, job_id: str,
                 body: BatchJobCreate) -> PreparedBatch:  # fmt: skip
    """Prepare the batch job ``body`` (see ``prepare``); its envelope is the canonical JSON of
    everything but the requests, which ``prepare`` hashes line by line."""
    envelope = body.model_dump(mode="json", exclude={"request": {"requests"}})
    canonical = orjson.dumps(envelope, option=orjson.OPT_SORT_KEYS)
    return await prepare(client, settings, job_id, body.request, canonical)


def _too_large(what: str, limit: int, unit: str) -> ApiError:
    return ApiError(413, "too_large", f"the batch has more than {limit} {unit} ({what})")


async def prepare(
    client: aredis.Redis, settings: Settings, job_id: str, request: BatchRequest, envelope: bytes
) -> PreparedBatch:
    """Check a batch against the limits and store its request lines under ``job_id``.

    Args:
        client: the job store's Redis.
        settings: for ``batch_max_requests``, ``batch_max_bytes``, ``batch_api_threshold``.
        job_id: the id the job will have.
        request: the validated batch request.
        envelope: the canonical JSON of the job body without its requests (hashed first).

    Raises:
        ApiError: 413 above a limit; 422 for an unknown or unusable input file; 503 when
            Mistral cannot be asked about the input file.
    """
    if request.input_file is not None:
        count = await _check_input_file(settings, request.input_file)
        digest = hashlib.sha256(envelope).hexdigest()
    else:
        count = len(request.requests or [])
        if count > settings.batch_max_requests:
            raise _too_large(f"{count} requests", settings.batch_max_requests, "requests")
        digest = await _store_lines(client, settings, job_id, request, envelope)
    mode = request.mode or ("api" if count > settings.batch_api_threshold else "direct")
    summary = request.model_dump(mode="json", exclude={"requests", "mode"}, exclude_none=True)
    return PreparedBatch(job_id, {**summary, "mode": mode, "count": count}, digest)


async def _store_lines(client: aredis.Redis, settings: Settings, job_id: str,
                       request: BatchRequest, envelope: bytes) -> str:  # fmt: skip
    """Store the request lines page by page; returns the digest of envelope and lines.

    Raises:
        ApiError: 413 once the lines exceed ``batch_max_bytes`` (nothing stays stored).
    """
    digest = hashlib.sha256(envelope)
    ttl = settings.job_deadline_seconds + settings.job_retention_seconds
    items = request.requests or []
    size = 0
    for begin in range(0, len(items), PAGE):
        page = items[begin : begin + PAGE]
        lines = [
            orjson.dumps({"custom_id": item.custom_id, "body": item.body},
                         option=orjson.OPT_SORT_KEYS)
            for item in page
        ]  # fmt: skip
        for line in lines:
            digest.update(line)
            size += len(line) + 1
        if size > settings.batch_max_bytes:
            await client.delete(*keys.batch_keys(job_id))
            raise _too_large(f"at least {size} bytes of JSONL", settings.batch_max_bytes, "bytes")
        async with client.pipeline(transaction=False) as pipe:
            pipe.hset(keys.batch_inputs(job_id), mapping=dict(enumerate(lines, begin)))
            pipe.hset(
                keys.batch_index(job_id),
                mapping={item.custom_id: begin + i for i, item in enumerate(page)},
            )
            for key in (keys.batch_inputs(job_id), keys.batch_index(job_id)):
                pipe.expire(key, ttl)
            await pipe.execute()
    async with client.pipeline(transaction=False) as pipe:
        pipe.hset(keys.batch_state(job_id), fields.BATCH_TOTAL, len(items))
        pipe.expire(keys.batch_state(job_id), ttl)
        await pipe.execute()
    return digest.hexdigest()


def _unusable_file(message: str) -> ApiError:
    detail = {"field": "request.input_file", "message": message, "type": "invalid_file"}
    return ApiError(422, "validation_error", f"request.input_file: {message}", [detail])


async def _check_input_file(settings: Settings, file_id: str) -> int:
    """The input file's line count, after checking Mistral has it, for batches, within limits."""

    def fetch() -> dict[str, Any]:
        # Each worker thread of anyio's pool has its own client (get_client is per thread).
        return get_client(settings).get(id_path("/v1/files", file_id)).json

    try:
        info = await anyio.to_thread.run_sync(fetch)
    except RequestRejected as exc:
        raise _unusable_file(f"Mistral has no usable file {file_id!r}: {exc}") from None
    except UpstreamError as exc:
        message = f"could not check the input file with Mistral: {exc}"
        raise ApiError(503, "unavailable", message) from None
    if info.get("purpose") != "batch":
        raise _unusable_file(f"file {file_id!r} was not uploaded with purpose 'batch'")
    count = int(info.get("num_lines") or 0)
    if count > settings.batch_max_requests:
        raise _too_large(f"{count} lines", settings.batch_max_requests, "requests")
    size = int(info.get("bytes") or 0)
    if size > settings.batch_max_bytes:
        raise _too_large(f"{size} bytes", settings.batch_max_bytes, "bytes")
    return count
