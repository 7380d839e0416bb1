"""Job dependencies: ``depends_on`` and ``{"$from": job id, "pointer": RFC 6901}`` references.

A job with ``depends_on`` is stored ``waiting`` and listed in ``keys.JOBS_WAITING``; the
scheduler (``worker/scheduler.py``) checks its dependencies. Once every one succeeded, each
reference in its ``request`` is replaced by the value its pointer selects in that job's public
view (``GET /v1/jobs/{id}``, e.g. ``/result/choices/0/message/content``) and the job is queued.
When one failed, was cancelled or is gone, the job fails with ``dependency_failed``.

Cycles cannot form: a job may only depend on jobs that exist when it is accepted, and its
``depends_on`` never changes afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import jsonpointer

from mistral_queue.jobs.changes import Change
from mistral_queue.jobs.model import FINAL, JobRecord, JobStatus, dumps

#: Most jobs one job may depend on.
MAX_DEPENDENCIES = 100
#: Keys of a reference object.
REF_KEYS = frozenset({"$from", "pointer"})


class ReferenceError(ValueError):
    """Raised for a malformed reference; ``field`` names it (``request.messages.0.content``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def is_ref(value: Any) -> bool:
    """Whether ``value`` is a ``{"$from", "pointer"}`` reference object."""
    return isinstance(value, dict) and "$from" in value


def refs(value: Any, path: str = "request") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every reference inside ``value`` with its dotted location, depth first."""
    if is_ref(value):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from refs(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from refs(item, f"{path}.{index}")


def placeholders(value: Any) -> Any:
    """``value`` with each reference replaced by ``""``, to check its shape before it is known."""
    if is_ref(value):
        return ""
    if isinstance(value, dict):
        return {key: placeholders(item) for key, item in value.items()}
    if isinstance(value, list):
        return [placeholders(item) for item in value]
    return value


def check_refs(request: dict[str, Any], depends_on: list[str]) -> None:
    """Check every reference of ``request``: well formed, its job in ``depends_on``.

    Raises:
        ReferenceError: the first bad reference.
    """
    allowed = set(depends_on)
    for field, ref in refs(request):
        if set(ref) != REF_KEYS or not all(isinstance(ref[k], str) for k in REF_KEYS):
            raise ReferenceError(field, 'a reference is {"$from": "<job id>", "pointer": "/…"}')
        if ref["$from"] not in allowed:
            raise ReferenceError(field, f"$from {ref['$from']} is not in depends_on")
        try:
            jsonpointer.JsonPointer(ref["pointer"])
        except jsonpointer.JsonPointerException as exc:
            raise ReferenceError(field, f"pointer: {exc}") from None


def resolve(value: Any, views: dict[str, dict[str, Any]]) -> Any:
    """``value`` with each reference replaced by what it points at in ``views[job id]``.

    Raises:
        ReferenceError: a pointer selects nothing in its job.
    """
    if is_ref(value):
        try:
            return jsonpointer.resolve_pointer(views[value["$from"]], value["pointer"])
        except jsonpointer.JsonPointerException as exc:
            message = f"{value['pointer']} selects nothing in {value['$from']}: {exc}"
            raise ReferenceError("request", message) from None
    if isinstance(value, dict):
        return {key: resolve(item, views) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve(item, views) for item in value]
    return value


@dataclass(frozen=True)
class Blocked:
    """A dependency that can never succeed: its id and status (``None`` when it is gone)."""

    job_id: str
    status: JobStatus | None


def blocked(statuses: dict[str, JobStatus | None]) -> Blocked | None:
    """The first dependency that ended other than ``succeeded`` (or is gone), if any."""
    for job_id, status in statuses.items():
        if status is None or (status in FINAL and status != JobStatus.SUCCEEDED):
            return Blocked(job_id, status)
    return None


def release(request: dict[str, Any], *, watch_until: float) -> Change:
    """Every dependency succeeded: queue the job with its references resolved."""
    return Change(
        "release a waiting job",
        frozenset({JobStatus.WAITING}),
        JobStatus.QUEUED,
        "job.queued",
        data={"status": JobStatus.QUEUED.value},
        fields={"request": dumps(request)},
        watch=watch_until,
    )


def failed_error(record: JobRecord, cause: Blocked | ReferenceError) -> dict[str, Any]:
    """The ``dependency_failed`` error of ``record`` for ``cause``."""
    if isinstance(cause, ReferenceError):
        return {"type": "dependency_failed", "message": str(cause)}
    what = cause.status.value if cause.status else "gone (expired or deleted)"
    message = f"dependency {cause.job_id} is {what}; job {record.id} cannot run"
    return {"type": "dependency_failed", "message": message, "dependency": cause.job_id}
