"""Emulator errors and the Mistral error bodies they turn into.

Body shapes follow mistral-api.md §3: ``{"object":"error","message","type","param","code"}``
for 4xx/5xx and unknown routes or methods, ``{"message":"Unauthorized","request_id"}`` for
401, FastAPI ``detail`` for 422.
"""

from __future__ import annotations

import uuid
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from mistral_queue.errors import MistralQueueError


class EmulatorError(MistralQueueError):
    """Raised when the emulator is misconfigured or misused."""


class FaultSyntaxError(EmulatorError):
    """Raised when a fault step, header or marker does not follow the step grammar."""


class ApiError(EmulatorError):
    """Raised inside a route to answer with Mistral's documented error body."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.code = code
        self.param = param

    def body(self) -> dict[str, Any]:
        """The JSON body Mistral sends for this error."""
        return error_body(self.message, self.type, self.code, self.param)


def error_body(
    message: str, type_: str, code: str | None = None, param: str | None = None
) -> dict[str, Any]:
    """Mistral's documented error body (mistral-api.md §3)."""
    return {"object": "error", "message": message, "type": type_, "param": param, "code": code}


def invalid_model(model: str) -> ApiError:
    """The 400 Mistral answers for an unknown model (``invalid_model``, code ``"1500"``)."""
    return ApiError(400, f"Invalid model: {model}", type_="invalid_model", code="1500")


def message_order(message: str) -> ApiError:
    """The 400 for a bad role sequence (``invalid_request_message_order``, code ``"3230"``)."""
    return ApiError(400, message, type_="invalid_request_message_order", code="3230")


def invalid_function_call(message: str) -> ApiError:
    """The 400 for a malformed tool call (``invalid_function_call``, code ``"3280"``)."""
    return ApiError(400, message, type_="invalid_function_call", code="3280")


def not_found(kind: str, ident: str) -> ApiError:
    """The 404 for an unknown agent, conversation, file or batch job."""
    return ApiError(404, f"{kind} {ident} not found", code="not_found")


def unauthorized_response() -> JSONResponse:
    """The 401 Mistral's gateway answers for a missing or unknown key."""
    return JSONResponse({"message": "Unauthorized", "request_id": uuid.uuid4().hex}, 401)


def fault_response(status: int, *, retry_after: float | None, capacity: bool) -> JSONResponse:
    """An injected error response, with ``Retry-After`` when ``retry_after`` (seconds) is set.

    Args:
        status: HTTP status, 400-599.
        retry_after: seconds for the ``Retry-After`` header; None leaves it out.
        capacity: for a 429, answer ``service_tier_capacity_exceeded`` instead.
    """
    headers = {} if retry_after is None else {"Retry-After": _seconds(retry_after)}
    return JSONResponse(fault_body(status, capacity=capacity), status, headers=headers)


def fault_body(status: int, *, capacity: bool = False) -> dict[str, Any]:
    """The body of an injected error: a 429 is the observed ``rate_limited``/``"1300"`` (or
    ``service_tier_capacity_exceeded``/``"3505"``), other statuses the documented shape."""
    if status == 429 and capacity:
        return error_body(
            "Service tier capacity exceeded for this model.",
            "service_tier_capacity_exceeded",
            "3505",
        )
    if status == 429:
        return error_body("Rate limit exceeded", "rate_limited", "1300")
    kind = "server_error" if status >= 500 else "invalid_request_error"
    return error_body(_reason(status), kind)


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


async def _api_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return JSONResponse(exc.body(), exc.status)


async def _http_error_handler(request: Request, exc: Exception) -> JSONResponse:
    # Routing errors (no such path, method not allowed) get Mistral's body, not FastAPI's
    # {"detail": ...}; the Allow header of a 405 is kept.
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code)
    message = f"{_reason(exc.status_code)}: {request.method} {request.url.path}"
    kind = "server_error" if exc.status_code >= 500 else "invalid_request_error"
    body = error_body(message, kind, code)
    return JSONResponse(body, exc.status_code, headers=dict(exc.headers or {}))


def install_error_handlers(app: FastAPI) -> None:
    """Turn ``ApiError`` raised in routes, and routing errors, into Mistral's error responses."""
    app.add_exception_handler(ApiError, _api_error_handler)
    app.add_exception_handler(StarletteHTTPException, _http_error_handler)
