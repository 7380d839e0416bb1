"""Errors of the job store."""

from mistral_queue.errors import MistralQueueError


class JobError(MistralQueueError):
    """Base class of job store errors."""


class JobNotFound(JobError):
    """Raised when a job id is unknown (or belongs to another tenant)."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"no job with id {job_id!r}")
        self.job_id = job_id


class InvalidTransition(JobError):
    """Raised when a job is not in a state that allows the requested change."""

    def __init__(self, job_id: str, status: str, action: str) -> None:
        super().__init__(f"job {job_id} is {status}: cannot {action}")
        self.job_id = job_id
        self.status = status
        self.action = action


class IdempotencyConflict(JobError):
    """Raised when an Idempotency-Key is reused with a different request body."""

    def __init__(self, key: str) -> None:
        super().__init__(f"Idempotency-Key {key!r} was already used with a different request body")
        self.key = key
