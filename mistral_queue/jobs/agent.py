"""The persisted state of an agent job: its finished steps and the tool results gathered so far.

It lives in the job's ``progress`` field, written by the worker after every step (so a rerun
after a retry or a crash resumes after the last finished step) and by the intake API when the
caller posts tool results. Shapes of entries and messages are Mistral's (mistral-api.md §2
"Conversation response", "Chat completion").
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

#: How an agent job talks to Mistral: ``POST /v1/agents/completions`` (a ``messages`` body)
#: or the Conversations API (an ``inputs`` body).
Mode = Literal["completion", "conversation"]


class ToolCall(BaseModel):
    """One function call the model made: what the caller (or an HTTP tool) must answer."""

    tool_call_id: str
    name: str
    #: As Mistral sent it: usually a JSON string, sometimes an object.
    arguments: Any = None


class ToolResult(BaseModel):
    """The answer to one tool call; Mistral wants a string."""

    tool_call_id: str
    result: str


class Step(BaseModel):
    """One finished upstream call of the job."""

    #: 1-based position of the step.
    step: int
    #: What this step sent: conversation entries or chat messages.
    inputs: list[Any]
    #: What it received: conversation output entries, or the assistant message.
    outputs: list[Any]
    usage: dict[str, Any] | None = None
    tool_calls: list[ToolCall] = []
    conversation_id: str | None = None
    #: The job's upstream attempt count once this step was done; the next step's retry
    #: budget starts from it.
    attempts: int = 0


class AgentProgress(BaseModel):
    """Everything an agent job has done so far."""

    mode: Mode
    conversation_id: str | None = None
    steps: list[Step] = []
    #: Usage summed over the steps.
    usage: dict[str, Any] = {}
    #: How many times the job has waited in ``requires_action``.
    rounds: int = 0
    #: Results gathered for the last step's tool calls (HTTP tools and the caller's).
    tool_results: list[ToolResult] = []

    @classmethod
    def load(cls, progress: dict[str, Any] | None, mode: Mode) -> AgentProgress:
        """The state stored in a job's ``progress``, or a fresh one for ``mode``."""
        if progress and progress.get("mode"):
            return cls.model_validate(progress)
        return cls(mode=mode)

    @property
    def open_calls(self) -> list[ToolCall]:
        """The last step's tool calls (answered or not); empty when the model is done."""
        return self.steps[-1].tool_calls if self.steps else []

    def unanswered(self) -> list[ToolCall]:
        """The last step's calls that have no result yet, in the model's order."""
        answered = {r.tool_call_id for r in self.tool_results}
        return [c for c in self.open_calls if c.tool_call_id not in answered]

    def ordered_results(self) -> list[ToolResult]:
        """The results of the last step's calls, in the order the model made the calls."""
        by_id = {r.tool_call_id: r for r in self.tool_results}
        return [by_id[c.tool_call_id] for c in self.open_calls if c.tool_call_id in by_id]

    def add_step(self, step: Step) -> AgentProgress:
        """A copy with ``step`` appended, its usage counted and the used results cleared."""
        return self.model_copy(
            update={
                "steps": [*self.steps, step],
                "usage": add_usage(self.usage, step.usage),
                "conversation_id": step.conversation_id or self.conversation_id,
                "tool_results": [],
            }
        )

    def add_results(self, results: list[ToolResult]) -> AgentProgress:
        """A copy with ``results`` gathered for the last step's calls."""
        return self.model_copy(update={"tool_results": [*self.tool_results, *results]})

    def dump(self) -> dict[str, Any]:
        """The JSON-safe form stored in ``progress``."""
        return self.model_dump(mode="json")


def add_usage(total: dict[str, Any], usage: dict[str, Any] | None) -> dict[str, Any]:
    """``total`` plus ``usage``: numbers are summed, nested counters (``connectors``) too.

    Keys that are null or not numbers in ``usage`` are left as they are in ``total``.
    """
    summed = dict(total)
    for key, value in (usage or {}).items():
        if isinstance(value, bool):
            continue
        if isinstance(value, int | float):
            previous = summed.get(key)
            summed[key] = (previous if isinstance(previous, int | float) else 0) + value
        elif isinstance(value, dict):
            inner = summed.get(key)
            summed[key] = add_usage(inner if isinstance(inner, dict) else {}, value)
    return summed
