"""HTTP tools: the worker calls a function tool's ``url`` itself and uses its answer as the result.

A call is a Standard Webhooks message signed exactly like a callback (the job's tenant's
secrets only, ``webhooks.tenant_secrets``; a stable
``webhook-id`` per tool call, so a tool server can de-duplicate retries), sent through the
same URL guard and address-pinned transport (``webhooks.guard``, ``webhooks.pinned_transport``).
Body: ``{"type": "tool.call", "timestamp", "data": {"job_id", "tenant", "tool_call_id", "name",
"arguments", "conversation_id"}}``. The text of a 2xx answer (at most ``MAX_RESULT_BYTES``) is
the function result. Connection errors, timeouts, 408, 429 and 5xx are retried with
full-jitter backoff (honouring ``Retry-After``); anything else fails at once.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from mistral_queue import __version__
from mistral_queue.config import Settings
from mistral_queue.jobs.agent import ToolCall
from mistral_queue.jobs.model import now_iso
from mistral_queue.tasks.agent.errors import ToolAttemptError, ToolCallFailed
from mistral_queue.webhooks.deadline import deadline
from mistral_queue.webhooks.delivery import parse_retry_after
from mistral_queue.webhooks.errors import UnsafeURLError
from mistral_queue.webhooks.guard import check_url
from mistral_queue.webhooks.pinned_transport import pinned, thread_client
from mistral_queue.webhooks.signing import event_id, sign_headers

USER_AGENT = f"mistral-queue-tools/{__version__}"

#: Largest tool answer accepted as a result, bytes.
MAX_RESULT_BYTES = 256 * 1024

#: ``on_retry(attempt, error, delay)``: told before each wait.
OnRetry = Callable[[int, ToolAttemptError, float], None]


@dataclass(frozen=True)
class ToolRequest:
    """One HTTP tool call: the same id and bytes on every attempt."""

    call: ToolCall
    url: str
    msg_id: str
    body: bytes
    #: The job's tenant's signing keys, current first.
    keys: tuple[bytes, ...]


def tool_request(
    job_id: str,
    call: ToolCall,
    url: str,
    conversation_id: str | None,
    *,
    tenant: str,
    keys: tuple[bytes, ...],
) -> ToolRequest:
    """The signed message for ``call``; its ``webhook-id`` is ``msg_<job>_tool_<call id>``.

    ``keys`` are the tenant's signing keys (``tenant_signing_keys``), never the master.
    """
    data = {
        "job_id": job_id,
        "tenant": tenant,
        "tool_call_id": call.tool_call_id,
        "name": call.name,
        "arguments": _arguments(call.arguments),
        "conversation_id": conversation_id,
    }
    body = orjson.dumps({"type": "tool.call", "timestamp": now_iso(), "data": data})
    return ToolRequest(call, url, event_id(job_id, f"tool.{call.tool_call_id}"), body, keys)


def _arguments(raw: Any) -> Any:
    # Mistral sends the arguments as JSON text; the tool server gets the object.
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw


def call_tool(
    request: ToolRequest,
    settings: Settings,
    on_retry: OnRetry | None = None,
    client: httpx.Client | None = None,
) -> tuple[str, int]:
    """POST the call with retries and return ``(result text, attempts made)``.

    Raises:
        ToolCallFailed: no 2xx answer within ``tool_call_attempts`` attempts, or a failure
            that no retry can fix (4xx, refused URL, answer too large).
    """
    attempts = 0

    def attempt() -> str:
        nonlocal attempts
        attempts += 1
        return post_once(request, settings, client)

    def before_sleep(state: RetryCallState) -> None:
        if on_retry is not None:
            on_retry(state.attempt_number, _error_of(state), state.upcoming_sleep)

    retrying = Retrying(
        stop=stop_after_attempt(settings.tool_call_attempts),
        wait=lambda state: _delay(settings, state),
        retry=retry_if_exception(lambda e: isinstance(e, ToolAttemptError) and e.retryable),
        before_sleep=before_sleep,
        reraise=True,
    )
    try:
        return retrying(attempt), attempts
    except ToolAttemptError as exc:
        call = request.call
        details = {
            "tool_call_id": call.tool_call_id,
            "name": call.name,
            "attempts": attempts,
            "status_code": exc.status_code,
        }
        message = f"tool {call.name} failed after {attempts} attempt(s): {exc}"
        raise ToolCallFailed(message, details) from exc


def _error_of(state: RetryCallState) -> ToolAttemptError:
    assert state.outcome is not None
    error = state.outcome.exception()
    assert isinstance(error, ToolAttemptError)
    return error


def _delay(settings: Settings, state: RetryCallState) -> float:
    """Full jitter on ``retry_base_delay * 2**(n-1)`` capped at ``retry_max_delay``, but at
    least the tool server's ``Retry-After`` (itself capped at ``retry_max_delay``)."""
    growth = 2.0 ** min(state.attempt_number - 1, 64)
    cap = min(settings.retry_max_delay, settings.retry_base_delay * growth)
    delay = random.uniform(0.0, cap)
    asked = _error_of(state).retry_after
    return max(delay, min(asked, settings.retry_max_delay)) if asked is not None else delay


def post_once(request: ToolRequest, settings: Settings, client: httpx.Client | None = None) -> str:
    """One signed POST; the URL guard runs again first (DNS may have changed since intake).

    The whole attempt (connect, send, the answer up to ``MAX_RESULT_BYTES``) ends within
    ``tool_call_timeout`` seconds (``webhooks.deadline``), however slowly the server answers.

    Raises:
        ToolAttemptError: the attempt failed; ``retryable`` says whether to try again.
    """
    signed = sign_headers(request.msg_id, request.body, request.keys)
    headers = {**signed, "user-agent": USER_AGENT}
    try:
        guarded = check_url(request.url, settings.callback_allow_hosts)
    except UnsafeURLError as exc:
        reason = str(exc).removeprefix("callback URL refused: ")
        raise ToolAttemptError(f"tool URL refused: {reason}", retryable=False) from exc
    http = client if client is not None else thread_client()
    timeout = settings.tool_call_timeout
    try:
        with (
            pinned(guarded),
            deadline(timeout),
            http.stream(
                "POST",
                request.url,
                content=request.body,
                headers=headers,
                timeout=timeout,
                follow_redirects=False,
            ) as response,
        ):
            return _read(response)
    except httpx.TimeoutException as exc:
        message = f"timed out after {timeout:g} s ({type(exc).__name__})"
        raise ToolAttemptError(message, retryable=True) from exc
    except httpx.HTTPError as exc:
        raise ToolAttemptError(f"{type(exc).__name__}: {exc}", retryable=True) from exc


def _read(response: httpx.Response) -> str:
    status = response.status_code
    if not 200 <= status < 300:
        retryable = status in (408, 429) or status >= 500
        message = f"HTTP {status}"
        if 300 <= status < 400:
            message += " (redirects are not followed)"
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        raise ToolAttemptError(
            message, retryable=retryable, status_code=status, retry_after=retry_after
        )
    data = bytearray()
    for chunk in response.iter_bytes():
        data += chunk
        if len(data) > MAX_RESULT_BYTES:
            message = f"the answer is larger than {MAX_RESULT_BYTES} bytes"
            raise ToolAttemptError(message, retryable=False, status_code=status)
    return data.decode(response.charset_encoding or "utf-8", errors="replace")
