"""Our job events in the shape of Mistral's Events API (SDK 3.7 ``StreamEventSsePayload`` and
``ListWorkflowEventResponse``), so ``Mistral(...).events`` reads them unchanged.

Mapping (a job is a workflow execution; ``workflow_name`` is the job type,
``workflow_exec_id`` and ``root_workflow_exec_id`` the job id, no parent: jobs have no
``depends_on`` yet, and a batch's requests are not jobs of their own):

=========================  ================================================================
our event                  Mistral workflow event(s)
=========================  ================================================================
``job.queued``             ``WORKFLOW_EXECUTION_STARTED`` (input: the event's data)
``job.started``            ``ACTIVITY_TASK_STARTED`` (one upstream attempt)
``job.retrying``           ``ACTIVITY_TASK_RETRYING`` (attempt, failure)
``job.succeeded``          ``ACTIVITY_TASK_COMPLETED`` then ``WORKFLOW_EXECUTION_COMPLETED``
``job.failed``             ``ACTIVITY_TASK_FAILED`` then ``WORKFLOW_EXECUTION_FAILED``
``job.cancelled``          ``WORKFLOW_EXECUTION_CANCELED``
other ``job.*``            ``CUSTOM_TASK_IN_PROGRESS`` (``custom_task_type`` = our type:
                           ``job.delta``, ``job.progress``, ``job.step`` ...)
``callback.*``             none (deliveries are not part of the execution)
=========================  ================================================================

An event's ``event_id`` is ``<stream entry id>-<n>``: the entry of our log and which of its
workflow events it is, so ``last_event_id`` resumes exactly (the job's log gives the ids
of a one-job stream or list, the tenant's log those of a tenant-wide list);
``broker_sequence`` counts a job's workflow events from 0, so ``start_seq`` does too.
``event_timestamp`` is in nanoseconds (the entry's milliseconds), as Mistral's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mistral_queue.jobs.events import Event
from mistral_queue.jobs.model import JobRecord

#: Our final event -> the workflow event that ends the execution.
_FINAL = {
    "job.succeeded": "WORKFLOW_EXECUTION_COMPLETED",
    "job.failed": "WORKFLOW_EXECUTION_FAILED",
    "job.cancelled": "WORKFLOW_EXECUTION_CANCELED",
}
#: Workflow events that end an execution (a stream of one job stops after one).
FINAL_TYPES = frozenset(_FINAL.values())
#: Namespace every execution of ours is in.
NAMESPACE = "mistral-queue"


@dataclass(frozen=True)
class Execution:
    """What the workflow events of one job say about it."""

    job_id: str
    workflow_name: str
    metadata: dict[str, Any]

    @classmethod
    def of(cls, record: JobRecord) -> Execution:
        """The execution of a stored job."""
        return cls(record.id, record.job.type.value, dict(record.job.metadata))

    def matches(self, workflow_name: str, metadata: dict[str, str]) -> bool:
        """Whether the filters keep this execution (``*`` keeps any name)."""
        if workflow_name not in ("*", self.workflow_name):
            return False
        return all(str(self.metadata.get(k)) == v for k, v in metadata.items())

    def context(self) -> dict[str, Any]:
        """The SSE payload's ``workflow_context``."""
        return {
            "namespace": NAMESPACE,
            "workflow_name": self.workflow_name,
            "workflow_exec_id": self.job_id,
            "parent_workflow_exec_id": None,
            "root_workflow_exec_id": self.job_id,
        }


def workflow_events(event: Event, execution: Execution) -> list[dict[str, Any]]:
    """The Mistral workflow events of one of our events (none for callback events)."""
    if event.type.startswith("callback."):
        return []
    data = event.data if isinstance(event.data, dict) else {"value": event.data}
    attempt = int(data.get("attempt") or 0)
    task_id = f"{execution.job_id}:{attempt}"
    activity = f"mistral.{execution.workflow_name}"
    kinds: list[tuple[str, dict[str, Any]]]
    if event.type == "job.queued":
        attributes = {"task_id": execution.job_id, "workflow_name": execution.workflow_name,
                      "input": _json(data), "attempt": 0}  # fmt: skip
        kinds = [("WORKFLOW_EXECUTION_STARTED", attributes)]
    elif event.type == "job.started":
        kinds = [("ACTIVITY_TASK_STARTED", {"task_id": task_id, "activity_name": activity,
                                            "input": _json(data)})]  # fmt: skip
    elif event.type == "job.retrying":
        failure = {"message": str((data.get("error") or {}).get("message") or "retrying")}
        kinds = [("ACTIVITY_TASK_RETRYING", {"task_id": task_id, "activity_name": activity,
                                             "attempt": attempt, "failure": failure})]  # fmt: skip
    elif event.type in _FINAL:
        kinds = _final(event.type, data, execution, activity)
    else:
        attributes = {"custom_task_id": f"{execution.job_id}:{event.type}",
                      "custom_task_type": event.type, "payload": _json(data)}  # fmt: skip
        kinds = [("CUSTOM_TASK_IN_PROGRESS", attributes)]
    return [_event(event, n, kind, attributes, execution) for n, (kind, attributes) in
            enumerate(kinds)]  # fmt: skip


def _final(
    kind: str, data: dict[str, Any], execution: Execution, activity: str
) -> list[tuple[str, dict[str, Any]]]:
    task_id = execution.job_id
    if kind == "job.succeeded":
        result = _json(data.get("result"))
        return [
            ("ACTIVITY_TASK_COMPLETED", {"task_id": task_id, "activity_name": activity,
                                         "result": result}),
            ("WORKFLOW_EXECUTION_COMPLETED", {"task_id": task_id, "result": result}),
        ]  # fmt: skip
    if kind == "job.failed":
        error = data.get("error") or {}
        failure = {"message": str(error.get("message") or error.get("type") or "failed")}
        return [
            ("ACTIVITY_TASK_FAILED", {"task_id": task_id, "activity_name": activity,
                                      "attempt": int(data.get("attempts") or 0),
                                      "failure": failure}),
            ("WORKFLOW_EXECUTION_FAILED", {"task_id": task_id, "failure": failure}),
        ]  # fmt: skip
    return [("WORKFLOW_EXECUTION_CANCELED", {"task_id": task_id, "reason": "cancelled"})]


def _event(
    event: Event, n: int, kind: str, attributes: dict[str, Any], execution: Execution
) -> dict[str, Any]:
    return {
        "event_id": f"{event.id}-{n}",
        "event_timestamp": entry_ms(event.id) * 1_000_000,
        "root_workflow_exec_id": execution.job_id,
        "parent_workflow_exec_id": None,
        "workflow_exec_id": execution.job_id,
        "workflow_run_id": execution.job_id,
        "workflow_name": execution.workflow_name,
        "event_type": kind,
        "attributes": attributes,
    }


def sse_payload(event: dict[str, Any], sequence: int, execution: Execution) -> dict[str, Any]:
    """The ``data`` of one SSE frame (``StreamEventSsePayload``)."""
    stamp = datetime.fromtimestamp(event["event_timestamp"] / 1e9, UTC)
    return {
        "stream": f"job:{execution.job_id}",
        "data": event,
        "workflow_context": execution.context(),
        "broker_sequence": sequence,
        "timestamp": stamp.isoformat().replace("+00:00", "Z"),
        "metadata": execution.metadata,
    }


def entry_ms(entry_id: str) -> int:
    """The milliseconds part of a stream entry id (``<ms>-<seq>``)."""
    return int(entry_id.split("-", 1)[0])


def _json(value: Any) -> dict[str, Any]:
    return {"type": "json", "value": value}
