"""Errors of batch jobs in the worker."""

from __future__ import annotations

from typing import Any

from mistral_queue.mistral.batches import BatchSnapshot
from mistral_queue.mistral.errors import UpstreamError
from mistral_queue.tasks.base import JobStopped

#: Our error type for each way a Mistral batch job can end without success.
ERROR_TYPES = {
    "FAILED": "batch_failed",
    "TIMEOUT_EXCEEDED": "batch_timeout",
    "CANCELLED": "batch_cancelled",
}


class Handled(JobStopped):
    """Raised when a batch task already recorded what comes next (a scheduled poll, fanned-out
    requests, or the outcome), so the run ends without recording one."""


class BatchFailed(UpstreamError):
    """Raised when Mistral's batch job ends FAILED, TIMEOUT_EXCEEDED or CANCELLED (not by us).

    Attributes:
        snapshot: the batch job as last polled.
        results_url: where the results kept so far are served.
    """

    error_type = "batch_failed"

    def __init__(self, snapshot: BatchSnapshot, results_url: str) -> None:
        reasons = "; ".join(str(e.get("message")) for e in snapshot.errors if e.get("message"))
        message = f"Mistral's batch job {snapshot.id} ended {snapshot.status}"
        super().__init__(f"{message}: {reasons}" if reasons else message)
        self.snapshot = snapshot
        self.results_url = results_url

    def to_dict(self) -> dict[str, Any]:
        """``{"type", "message", "status_code": None, "details"}``; ``details`` has Mistral's
        status, ``errors`` (``[{"message", "count"}]``), counters and ``results_url``."""
        snapshot = self.snapshot
        return {
            "type": ERROR_TYPES.get(snapshot.status, self.error_type),
            "message": self.message,
            "status_code": None,
            "details": {
                "mistral_batch_id": snapshot.id,
                "mistral_status": snapshot.status,
                "errors": snapshot.errors,
                **snapshot.counters(),
                "results_url": self.results_url,
            },
        }
