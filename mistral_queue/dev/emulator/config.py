"""Emulator configuration: run-level faults (changeable at runtime) and fixed server knobs.

This is not the service's ``Settings``: the emulator is a test double configured by the CLI
flags of ``mistral-queue emulator`` or directly by tests.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mistral_queue.dev.emulator.errors import FaultSyntaxError
from mistral_queue.dev.emulator.faults import parse_step

#: Model ids served by default; the embedding, moderation and OCR models have no chat
#: capability (mistral-api.md §2).
DEFAULT_MODELS = (
    "mistral-small-latest",
    "mistral-medium-latest",
    "mistral-large-latest",
    "open-mistral-nemo",
    "codestral-latest",
    "magistral-small-latest",
    "magistral-medium-latest",
    "mistral-embed",
    "mistral-moderation-latest",
    "mistral-ocr-latest",
)


class RunFaults(BaseModel):
    """Faults that apply to every ``/v1/`` call; ``POST /_emulator/faults`` patches them.

    ``fail_next`` and ``script`` are consumed one step per call (see ``faults.py`` for the
    step syntax); the rates draw from a RNG seeded with ``seed``.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    #: Milliseconds added before every answer.
    latency_ms: float = Field(default=0.0, ge=0)
    #: Milliseconds between two frames of a stream.
    stream_chunk_delay_ms: float = Field(default=0.0, ge=0)
    #: Requests per second accepted before answering 429 like Mistral; None means no limit.
    rps_limit: float | None = Field(default=None, gt=0)
    #: The next N calls fail with the step ``fail_with``.
    fail_next: int = Field(default=0, ge=0)
    #: One fault step, e.g. ``503``, ``429:retry_after=2``, ``drop``.
    fail_with: str = "503"
    #: Steps applied to the next calls in order, e.g. ``["503", "drop", "ok"]``.
    script: list[str] = Field(default_factory=list)
    #: Probability (0..1) that a call fails with a status drawn from ``error_statuses``.
    error_rate: float = Field(default=0.0, ge=0, le=1)
    error_statuses: list[int] = Field(default_factory=lambda: [429, 500, 502, 503])
    #: Probability (0..1) that a call's connection is closed without a response.
    drop_rate: float = Field(default=0.0, ge=0, le=1)
    #: Seed of the storm RNG; None seeds from the OS.
    seed: int | None = None
    #: Path prefixes the run-level faults apply to; empty means every ``/v1/`` path.
    paths: list[str] = Field(default_factory=list)
    #: Seconds advertised in ``Retry-After`` when a 429 step names none.
    retry_after_seconds: float = Field(default=1.0, ge=0)
    #: Terminal status forced on batch jobs created from now on (see ``batch_runner.py``).
    batch_outcome: Literal["FAILED", "TIMEOUT_EXCEEDED"] | None = None

    @field_validator("fail_with")
    @classmethod
    def _check_step(cls, value: str) -> str:
        try:
            parse_step(value)
        except FaultSyntaxError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("script")
    @classmethod
    def _check_script(cls, value: list[str]) -> list[str]:
        for step in value:
            cls._check_step(step)
        return value


class EmulatorConfig(RunFaults):
    """Everything the emulator needs to start; the ``RunFaults`` part is its initial fault set."""

    #: Accepted bearer tokens; empty means any non-empty token is accepted.
    api_keys: frozenset[str] = frozenset()
    #: Values advertised in ``x-ratelimit-limit-req-minute`` / ``-tokens-minute``.
    ratelimit_req_minute: int = Field(default=720, ge=0)
    ratelimit_tokens_minute: int = Field(default=5_000_000, ge=0)
    #: Model ids the emulator knows.
    models: tuple[str, ...] = DEFAULT_MODELS
    #: Entries kept in the request log (oldest dropped first).
    log_limit: int = Field(default=100_000, gt=0)
    #: Seconds between two steps of a batch job (QUEUED -> RUNNING -> lines -> terminal).
    batch_pace_seconds: float = Field(default=0.2, ge=0)
    #: Input lines a batch job processes per step.
    batch_lines_per_step: int = Field(default=100, gt=0)

    def run_faults(self) -> RunFaults:
        """The initial run-level faults carried by this config."""
        return RunFaults.model_validate(self.model_dump(include=set(RunFaults.model_fields)))
