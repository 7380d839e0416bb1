"""The emulator's own API under ``/_emulator/`` (no auth): request log, faults, reset, health."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body
from pydantic import ValidationError
from starlette.responses import Response

from mistral_queue.dev.emulator.errors import FaultSyntaxError
from mistral_queue.dev.emulator.state import EmulatorState, LogFilter, StateDep
from mistral_queue.dev.emulator.wire import json_response

router = APIRouter(prefix="/_emulator")


@router.get("/health")
async def health(state: StateDep) -> Response:
    """``{"status": "ok", "pending_faults": n}``."""
    return json_response({"status": "ok", "pending_faults": len(state.faults.pending())})


@router.get("/requests")
async def requests(
    state: StateDep,
    path: str | None = None,
    path_prefix: str | None = None,
    outcome: str | None = None,
    status: int | None = None,
    request_id: str | None = None,
    body_sha256: str | None = None,
    since_seq: int | None = None,
    limit: int | None = None,
) -> Response:
    """The request log, oldest first: ``{"object": "list", "data": [entry], "total": n}``."""
    where = LogFilter(path, path_prefix, outcome, status, request_id, body_sha256, since_seq)
    entries = [entry.to_dict() for entry in state.log.query(where, limit)]
    return json_response({"object": "list", "data": entries, "total": len(entries)})


@router.get("/faults")
async def get_faults(state: StateDep) -> Response:
    """``{"faults": RunFaults, "pending": [step]}``: current run-level faults."""
    return _faults(state)


@router.post("/faults")
async def set_faults(state: StateDep, patch: dict[str, Any] = Body(...)) -> Response:  # noqa: B008
    """Patch the run-level faults; ``fail_next``/``script`` queue steps. 422 when invalid."""
    try:
        state.faults.update(patch)
    except ValidationError as exc:
        detail = exc.errors(include_url=False, include_context=False)
        return json_response({"detail": detail}, 422)
    except FaultSyntaxError as exc:
        return json_response({"detail": [{"type": "fault_syntax", "msg": str(exc)}]}, 422)
    return _faults(state)


@router.delete("/faults")
async def clear_faults(state: StateDep) -> Response:
    """Back to the start-up faults: queued steps and marker counters are forgotten."""
    state.faults.reset(state.config.run_faults())
    return _faults(state)


@router.post("/reset")
async def reset(state: StateDep) -> Response:
    """Forget the log, faults, agents, conversations, files and batch jobs."""
    state.reset()
    return json_response({"status": "reset"})


def _faults(state: EmulatorState) -> Response:
    body = {"faults": state.faults.faults.model_dump(), "pending": state.faults.pending()}
    return json_response(body)
