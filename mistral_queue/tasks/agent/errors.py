"""Errors of agent jobs: what fails an agent job besides an upstream error."""

from __future__ import annotations

from typing import Any, ClassVar

from mistral_queue.errors import MistralQueueError


class AgentError(MistralQueueError):
    """Raised when an agent job cannot go on; ``to_dict`` is the job's ``error``."""

    #: The ``type`` of the job's ``error``.
    error_type: ClassVar[str] = "agent_error"

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}

    def to_dict(self) -> dict[str, Any]:
        """``{"type", "message", "details"}``, stored on the failed job."""
        return {"type": self.error_type, "message": self.message, "details": self.details}


class StepLimitExceeded(AgentError):
    """Raised when the model still calls tools after ``max_steps`` upstream calls."""

    error_type = "max_steps_exceeded"


class ToolCallFailed(AgentError):
    """Raised when an HTTP tool did not answer with a 2xx after every attempt."""

    error_type = "tool_call_failed"


class InvalidAgentResponse(AgentError):
    """Raised when a 2xx answer from Mistral lacks what the next step needs."""

    error_type = "invalid_response"


class ToolAttemptError(MistralQueueError):
    """Raised when one attempt of an HTTP tool call fails; ``retryable`` says if another may work.

    Attributes:
        retryable: a connection error, a timeout, 408, 429 or 5xx.
        status_code: the tool server's status, None when no response came.
        retry_after: seconds its ``Retry-After`` asked for, if any.
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        status_code: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status_code = status_code
        self.retry_after = retry_after
