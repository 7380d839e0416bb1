"""The API's error responses: one JSON shape, the right status, never a stack trace.

Shape (DESIGN.md § Intake API): ``{"error": {"type": ..., "message": ..., "details": ...}}``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import redis
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from kombu.exceptions import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from mistral_queue.errors import MistralQueueError
from mistral_queue.jobs.errors import IdempotencyConflict, InvalidTransition, JobNotFound
from mistral_queue.webhooks.errors import UnsafeURLError

log = logging.getLogger(__name__)


class ApiError(MistralQueueError):
    """Raised by routes for a client error; carries its HTTP status and error type."""

    def __init__(
        self,
        status: int,
        type_: str,
        message: str,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.type = type_
        self.message = message
        self.details = details
        self.headers = headers


def error_response(
    status: int,
    type_: str,
    message: str,
    details: Any = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """A JSON error response in the API's shape."""
    body = {"error": {"type": type_, "message": message, "details": details}}
    return JSONResponse(body, status_code=status, headers=headers)


#: Discriminator tags pydantic puts in an error's location; the caller never wrote them.
_TAGS = {"chat", "agent", "batch", "embeddings", "ocr", "moderation", "classification", "fim"}
#: Tags of the shapes an agent job's request may take (``api.schemas.agent``).
_REQUEST_SHAPES = {"completion", "conversation"}


def _field(error: Any) -> str:
    if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
        return "type"
    # "body", "query", "header" and "path" say where, not what: the caller knows the name.
    parts = [str(p) for p in error["loc"]]
    if parts and parts[0] in ("body", "query", "header", "path"):
        parts = parts[1:]
    if len(parts) > 1 and parts[0] in _TAGS:
        parts = parts[1:]
    # A job body inside another body (a schedule's "job.chat.request" → "job.request").
    if len(parts) > 2 and parts[0] == "job" and parts[1] in _TAGS:
        del parts[1]
    # The shape tag of an agent request ("request.conversation.inputs" → "request.inputs").
    if len(parts) > 1 and parts[0] == "request" and parts[1] in _REQUEST_SHAPES:
        del parts[1]
    return ".".join(parts) or "body"


def _validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return error_response(400, "invalid_json", "the request body is not valid JSON")
    return error_response(422, "validation_error", *validation_error(errors))


def validation_error(errors: Sequence[Any]) -> tuple[str, list[dict[str, str]]]:
    """The message and ``details`` (``[{"field", "message", "type"}]``) of pydantic errors."""
    details = [{"field": _field(e), "message": e["msg"], "type": e["type"]} for e in errors]
    return "; ".join(f"{d['field']}: {d['message']}" for d in details), details


def _http(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    kinds = {
        401: "unauthorized",
        404: "not_found",
        405: "method_not_allowed",
        413: "too_large",
        422: "validation_error",
    }
    return error_response(
        exc.status_code, kinds.get(exc.status_code, "http_error"), str(exc.detail)
    )


def _api(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.type, exc.message, exc.details, exc.headers)


def _known(_: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, JobNotFound):
        return error_response(404, "not_found", str(exc))
    if isinstance(exc, InvalidTransition):
        return error_response(409, "conflict", str(exc), {"status": exc.status})
    if isinstance(exc, IdempotencyConflict):
        return error_response(409, "idempotency_conflict", str(exc))
    if isinstance(exc, UnsafeURLError):
        return error_response(
            422,
            "validation_error",
            f"callback_url: {exc}",
            [{"field": "callback_url", "message": str(exc), "type": "unsafe_url"}],
        )
    log.error("unhandled %s: %s", type(exc).__name__, exc)
    return error_response(500, "internal_error", "internal error")


def _unavailable(_: Request, exc: Exception) -> JSONResponse:
    log.warning("dependency unavailable: %s: %s", type(exc).__name__, exc)
    return error_response(
        503,
        "unavailable",
        "the job store or broker is unreachable; try again",
        headers={"Retry-After": "1"},
    )


def install(app: FastAPI) -> None:
    """Register every handler on ``app``."""
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(ApiError, _api)
    app.add_exception_handler(MistralQueueError, _known)
    for exc_type in (redis.RedisError, OperationalError, ConnectionError, TimeoutError):
        app.add_exception_handler(exc_type, _unavailable)
