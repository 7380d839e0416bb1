"""Redis keys of a batch job's requests, results and bookkeeping (all under the job's prefix).

Besides the job hash (whose ``request`` is only a summary), a batch keeps:

- ``inputs``: hash, input position (0-based, decimal) -> the request line
  ``{"custom_id", "body"}`` as JSON text, for the upload and for direct calls;
- ``index``: hash, ``custom_id`` -> input position, to place Mistral's output lines;
- ``results``: hash, input position -> the result line ``{"custom_id", "response" | "error"}``;
- ``state``: hash of the worker's bookkeeping (Mistral ids, poll counters, direct counters);
- ``pending``: sorted set of positions waiting for a deferred retry, scored by when they are
  due (unix seconds), so recovery does not publish them early.

They live as long as the job: created with a TTL covering the job's deadline plus its
retention, cut to the retention when the job ends.
"""

from mistral_queue.jobs.keys import PREFIX


def inputs(job_id: str) -> str:
    """Hash of the batch's request lines by input position."""
    return f"{PREFIX}job:{job_id}:inputs"


def index(job_id: str) -> str:
    """Hash of input positions by ``custom_id``."""
    return f"{PREFIX}job:{job_id}:index"


def results(job_id: str) -> str:
    """Hash of result lines by input position."""
    return f"{PREFIX}job:{job_id}:results"


def state(job_id: str) -> str:
    """Hash of the worker's bookkeeping for the batch."""
    return f"{PREFIX}job:{job_id}:batch"


def pending(job_id: str) -> str:
    """Sorted set of input positions whose deferred retry is due at the score (unix seconds)."""
    return f"{PREFIX}job:{job_id}:pending"


def request_lease(job_id: str, position: int) -> str:
    """The lease id (see ``jobs.lease``) a worker holds while it calls one request upstream."""
    return f"{job_id}/{position}"


def all_keys(job_id: str) -> tuple[str, ...]:
    """Every batch key of the job (for expiry)."""
    return (
        inputs(job_id),
        index(job_id),
        results(job_id),
        state(job_id),
        pending(job_id),
    )
