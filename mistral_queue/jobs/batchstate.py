"""A batch job's requests, results and bookkeeping in Redis, for worker threads (sync).

Keys and their shapes are in ``jobs.keys``. Everything is read and written in pages of
PAGE entries, so no step holds more than one page of a large batch in memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import redis

from mistral_queue.jobs import fields, keys
from mistral_queue.jobs.errors import JobError
from mistral_queue.jobs.model import FINAL

#: Entries per Redis round trip when paging through a batch.
PAGE = 500

# Store a result once; count it and push the sweep's look at the job further out.
_RECORD = """
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then
  return {0, 0, 0, 0}
end
redis.call('EXPIRE', KEYS[1], ARGV[6], 'NX')
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('HINCRBY', KEYS[2], ARGV[3], 1)
redis.call('ZADD', KEYS[4], 'XX', 'GT', ARGV[5], ARGV[4])
local counts = redis.call('HMGET', KEYS[2], ARGV[7], ARGV[8], ARGV[9])
return {1, tonumber(counts[1] or '0'), tonumber(counts[2] or '0'), tonumber(counts[3] or '0')}
"""


class BatchInputError(JobError):
    """Raised when a batch's input file has a line that is not a request or a repeated id."""


@dataclass(frozen=True)
class Recorded:
    """The outcome of recording one result: whether it was new, and the counters after it."""

    new: bool
    succeeded: int
    failed: int
    total: int

    @property
    def complete(self) -> bool:
        """Whether every request of the batch has its result now."""
        return self.new and self.succeeded + self.failed >= self.total


def request_line(raw: bytes | str, position: int) -> tuple[str, dict[str, Any]]:
    """``(custom_id, body)`` of one input line; a missing custom_id is the position.

    Raises:
        BatchInputError: the line is not a JSON object with a ``body`` object.
    """
    try:
        item = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BatchInputError(f"input line {position + 1} is not JSON") from None
    if not isinstance(item, dict) or not isinstance(item.get("body"), dict):
        raise BatchInputError(f"input line {position + 1} has no 'body' object")
    custom_id = item.get("custom_id")
    return (str(position) if custom_id is None else str(custom_id)), item["body"]


class BatchState:
    """One batch job's keys, through a sync client with ``decode_responses=True``."""

    def __init__(self, client: redis.Redis, job_id: str, ttl: int) -> None:
        """``ttl``: seconds keys created here live until the job ends and cuts them."""
        self.redis = client
        self.job_id = job_id
        self.ttl = ttl
        self.key = keys.batch_state(job_id)
        self._record = client.register_script(_RECORD)

    def get(self) -> dict[str, str]:
        """The bookkeeping hash (``total``, ``batch_id``, ``poll_seq``, ``succeeded`` …)."""
        raw: dict[Any, Any] = self.redis.hgetall(self.key)
        return {str(k): str(v) for k, v in raw.items()}

    def put(self, **fields: str | int) -> None:
        """Set bookkeeping fields."""
        mapping: dict[Any, Any] = fields
        pipe = self.redis.pipeline(transaction=False)
        pipe.hset(self.key, mapping=mapping)
        pipe.expire(self.key, self.ttl, nx=True)
        pipe.execute()

    def claim(self, field: str) -> bool:
        """Set ``field`` unless it is set; whether this call set it (a once-only step)."""
        return bool(self.redis.hsetnx(self.key, field, "1"))

    def unclaim(self, field: str) -> None:
        """Clear ``field``, so the step it guards may be tried again."""
        self.redis.hdel(self.key, field)

    def incr(self, field: str, by: int = 1) -> int:
        """Add ``by`` to a counter field; returns the new value."""
        return int(self.redis.hincrby(self.key, field, by))

    def total(self) -> int:
        """Requests in the batch (0 before they are known)."""
        return int(self.redis.hget(self.key, fields.BATCH_TOTAL) or 0)

    def load(self, lines: Iterable[bytes], *, keep_bodies: bool) -> int:
        """Index an input file's lines (and keep them when ``keep_bodies``); returns the count.

        Starts afresh each time, so a load cut short by a crash is simply done again.

        Raises:
            BatchInputError: a line is not a request, or a custom_id repeats.
        """
        self.redis.delete(keys.batch_index(self.job_id), keys.batch_inputs(self.job_id))
        count = 0
        page: list[tuple[str, bytes]] = []
        for raw in lines:
            custom_id, _ = request_line(raw, count)
            page.append((custom_id, raw))
            count += 1
            if len(page) == PAGE:
                self._load_page(page, count - len(page), keep_bodies)
                page = []
        self._load_page(page, count - len(page), keep_bodies)
        return count

    def _load_page(self, page: list[tuple[str, bytes]], first: int, keep_bodies: bool) -> None:
        index, inputs = keys.batch_index(self.job_id), keys.batch_inputs(self.job_id)
        pipe = self.redis.pipeline(transaction=False)
        for offset, (custom_id, _) in enumerate(page):
            pipe.hsetnx(index, custom_id, first + offset)
        if keep_bodies and page:
            pipe.hset(inputs, mapping={first + i: raw for i, (_, raw) in enumerate(page)})
        for key in (index, inputs):
            pipe.expire(key, self.ttl, nx=True)
        replies = pipe.execute()
        for (custom_id, _), added in zip(page, replies, strict=False):
            if not added:
                raise BatchInputError(f"custom_id {custom_id!r} appears more than once")

    def input_lines(self, total: int) -> Iterator[str]:
        """The request lines in input order, one page read at a time."""
        key = keys.batch_inputs(self.job_id)
        for start in range(0, total, PAGE):
            values = self.redis.hmget(key, list(range(start, min(start + PAGE, total))))
            yield from (str(value) for value in values if value is not None)

    def pending_input(self, position: int) -> str | None:
        """The request line at ``position`` if it still needs a call (the job is unfinished
        and the request has no result), else None; one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.hget(keys.job(self.job_id), fields.STATUS)
        pipe.hget(keys.batch_inputs(self.job_id), str(position))
        pipe.hexists(keys.batch_results(self.job_id), str(position))
        status, line, done = pipe.execute()
        if status is None or status in FINAL or done or line is None:
            return None
        return str(line)

    def positions(self, custom_ids: Sequence[str]) -> list[int | None]:
        """The input position of each custom_id (None for an id the batch does not have)."""
        if not custom_ids:
            return []
        values = self.redis.hmget(keys.batch_index(self.job_id), list(custom_ids))
        return [None if value is None else int(value) for value in values]

    def store_results(self, lines: dict[int, bytes]) -> None:
        """Store result lines by input position (replacing earlier ones)."""
        if not lines:
            return
        key = keys.batch_results(self.job_id)
        pipe = self.redis.pipeline(transaction=False)
        pipe.hset(key, mapping=lines)  # type: ignore[arg-type]
        pipe.expire(key, self.ttl, nx=True)
        pipe.execute()

    def record(self, position: int, line: bytes, ok: bool, watch_until: float) -> Recorded:
        """Store one request's result unless it has one, count it, and keep the job watched
        until at least ``watch_until`` (unix seconds)."""
        keys_ = [
            keys.batch_results(self.job_id),
            self.key,
            keys.batch_pending(self.job_id),
            keys.JOBS_WATCH,
        ]
        outcome = fields.BATCH_SUCCEEDED if ok else fields.BATCH_FAILED
        args: list[Any] = [position, line, outcome, self.job_id, watch_until, self.ttl,
                           fields.BATCH_SUCCEEDED, fields.BATCH_FAILED,
                           fields.BATCH_TOTAL]  # fmt: skip
        new, succeeded, failed, total = self._record(keys=keys_, args=args)
        return Recorded(bool(new), int(succeeded), int(failed), int(total))

    def defer(self, positions: Sequence[int], due: float, watch_until: float) -> None:
        """Note that the requests at ``positions`` retry at ``due`` (unix seconds), and keep
        the job watched until at least ``watch_until``."""
        key = keys.batch_pending(self.job_id)
        pipe = self.redis.pipeline(transaction=False)
        pipe.zadd(key, {str(position): due for position in positions})
        pipe.expire(key, self.ttl, nx=True)
        pipe.zadd(keys.JOBS_WATCH, {self.job_id: watch_until}, xx=True, gt=True)
        pipe.execute()

    def waiting(self, now: float) -> set[int]:
        """Positions whose deferred retry is not due yet at ``now`` (unix seconds)."""
        due: list[Any] = self.redis.zrangebyscore(keys.batch_pending(self.job_id), now, "+inf")
        return {int(position) for position in due}

    def missing(self, total: int) -> Iterator[int]:
        """Positions without a result, in input order."""
        key = keys.batch_results(self.job_id)
        for start in range(0, total, PAGE):
            page = list(range(start, min(start + PAGE, total)))
            found = self.redis.hmget(key, page)
            yield from (pos for pos, value in zip(page, found, strict=True) if value is None)

    def expire(self, seconds: int) -> None:
        """Let every key of the batch expire in ``seconds`` (the job's retention, once it ended)."""
        pipe = self.redis.pipeline(transaction=False)
        for key in keys.batch_keys(self.job_id):
            pipe.expire(key, seconds)
        pipe.execute()
