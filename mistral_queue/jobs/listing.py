"""Listing a tenant's jobs newest first, with filters and a cursor stable under inserts.

The cursor is ``<created ms>:<job id>`` of the last job returned; the next page starts strictly
after it in (score desc, id desc) order, so jobs created meanwhile never shift a page.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aredis

from mistral_queue.jobs import keys
from mistral_queue.jobs.model import JobRecord, JobStatus, JobType

#: Index entries read per round trip, and the most rounds one page may take.
SCAN_BATCH = 200
MAX_ROUNDS = 20


class BadCursor(ValueError):
    """Raised when a cursor is not one this API returned."""


@dataclass(frozen=True)
class JobFilter:
    """What a listing keeps; empty collections keep everything. Times are unix ms."""

    statuses: Collection[JobStatus] = ()
    types: Collection[JobType] = ()
    created_after_ms: int | None = None
    created_before_ms: int | None = None

    def keeps(self, record: JobRecord) -> bool:
        job = record.job
        return (not self.statuses or job.status in self.statuses) and (
            not self.types or job.type in self.types
        )


def _parse_cursor(cursor: str) -> tuple[int, str]:
    score, sep, job_id = cursor.partition(":")
    if not sep or not score.isdigit() or not job_id:
        raise BadCursor(cursor)
    return int(score), job_id


async def list_jobs(
    client: aredis.Redis, tenant: str, filters: JobFilter, cursor: str | None, limit: int
) -> tuple[list[JobRecord], str | None]:
    """One page of the tenant's jobs and the cursor of the next page (None at the end).

    Raises:
        BadCursor: ``cursor`` is malformed.
    """
    index = keys.tenant_jobs(tenant)
    after = _parse_cursor(cursor) if cursor else None
    top: float | str = (
        "+inf" if filters.created_before_ms is None else filters.created_before_ms - 1
    )
    if after is not None:
        top = after[0]
    bottom: float | str = (
        "-inf" if filters.created_after_ms is None else filters.created_after_ms + 1
    )
    found: list[JobRecord] = []
    offset = 0
    for _ in range(MAX_ROUNDS):
        raw: list[Any] = await client.zrevrangebyscore(
            index, top, bottom, start=offset, num=SCAN_BATCH, withscores=True
        )
        offset += len(raw)
        entries = [(int(score), str(member)) for member, score in raw]
        if after is not None:
            entries = [entry for entry in entries if entry < after]
        records = await _load(client, index, [member for _, member in entries])
        for (score, member), record in zip(entries, records, strict=True):
            if record is not None and filters.keeps(record):
                found.append(record)
                if len(found) == limit:
                    return found, f"{score}:{member}"
        if len(raw) < SCAN_BATCH:
            return found, None
    # The scan budget ran out: resume after the last entry looked at.
    return found, f"{int(raw[-1][1])}:{raw[-1][0]}"


async def _load(client: aredis.Redis, index: str, ids: list[str]) -> list[JobRecord | None]:
    if not ids:
        return []
    pipe = client.pipeline(transaction=False)
    for job_id in ids:
        pipe.hgetall(keys.job(job_id))
    raws = await pipe.execute()
    gone = [job_id for job_id, raw in zip(ids, raws, strict=True) if not raw]
    if gone:
        # Retention expired these records; drop them from the index as we pass.
        await client.zrem(index, *gone)
    return [JobRecord.from_hash(raw) if raw else None for raw in raws]
