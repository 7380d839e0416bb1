"""Result lines of a job that makes several calls (embeddings, OCR), kept for ``/results``.

They use a batch's keys (``jobs.keys.batch_*``): ``results`` maps a line's position to its JSON
text and ``state`` holds ``total`` (lines so far, which ``GET /v1/jobs/{id}/results`` reads)
and ``done`` (how far the job got, so a rerun after a crash or a deferred retry continues
instead of calling Mistral again for what it already has). The keys live for the job's
deadline plus its retention, cut to the retention when the job ends.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from mistral_queue.jobs import fields, keys
from mistral_queue.tasks.runtime import Runtime

#: Counter of the attempts the job's finished calls made, so the next call's attempt budget
#: (``max_attempts``) starts afresh while a rerun of an unfinished call does not.
ATTEMPTS = "attempts"
#: Field of how far the job got (inputs embedded, page ranges read).
DONE = "done"


class ResultLines:
    """The stored lines and progress marker of one job."""

    def __init__(self, rt: Runtime, job_id: str) -> None:
        self.rt = rt
        self.job_id = job_id
        self._results = keys.batch_results(job_id)
        self._state = keys.batch_state(job_id)

    def done(self) -> tuple[int, dict[str, int]]:
        """``(done, counters)``: the marker and the integer counters stored with it."""
        stored = self.rt.redis.hgetall(self._state)
        values = {str(k if isinstance(k, str) else k.decode()): int(v) for k, v in stored.items()}
        return values.pop(DONE, 0), {k: v for k, v in values.items() if k != fields.BATCH_TOTAL}

    def total(self) -> int:
        """Lines stored so far."""
        return int(self.rt.redis.hget(self._state, fields.BATCH_TOTAL) or 0)

    def add(self, lines: Sequence[dict[str, Any]], *, done: int, counters: dict[str, int]) -> int:
        """Append ``lines`` after those stored and move the marker to ``done``, atomically.

        ``counters`` are added to the stored ones (usage, pages). Returns the new total.
        """
        total = self.total()
        settings = self.rt.settings
        ttl = settings.job_deadline_seconds + settings.job_retention_seconds
        pipe = self.rt.redis.pipeline(transaction=True)
        if lines:
            pipe.hset(
                self._results,
                mapping={str(total + i): orjson.dumps(line) for i, line in enumerate(lines)},
            )
        pipe.hset(self._state, mapping={fields.BATCH_TOTAL: total + len(lines), DONE: done})
        for name, value in counters.items():
            pipe.hincrby(self._state, name, value)
        pipe.expire(self._results, ttl)
        pipe.expire(self._state, ttl)
        pipe.execute()
        return total + len(lines)

    def keep_for_retention(self) -> None:
        """Cut the keys' lifetime to the job's retention (the job has ended)."""
        seconds = self.rt.settings.job_retention_seconds
        pipe = self.rt.redis.pipeline(transaction=False)
        pipe.expire(self._results, seconds)
        pipe.expire(self._state, seconds)
        pipe.execute()
