"""Mapping Mistral's answers onto upstream errors: every body shape and header form."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from mistral_queue.mistral.errors import (
    InvalidResponse,
    NoAllowance,
    RateLimited,
    RequestRejected,
    ServerError,
    UpstreamConnectionError,
    UpstreamError,
    UpstreamTimeout,
    error_from_exception,
    error_from_response,
)
from mistral_queue.mistral.parsing import MAX_BODY_CHARS, retry_after_seconds

REQUEST = httpx.Request("POST", "https://api.mistral.ai/v1/chat/completions")


def answer(status: int, body: Any = None, headers: dict[str, str] | None = None) -> httpx.Response:
    content = body if isinstance(body, str) else json.dumps(body) if body is not None else ""
    return httpx.Response(status, content=content.encode(), headers=headers, request=REQUEST)


VALIDATION = [
    {
        "type": "extra_forbidden",
        "loc": ["body", "store"],
        "msg": "Extra inputs are not permitted",
        "input": False,
    },
    {"type": "missing", "loc": ["body", "messages", 0, "content"], "msg": "Field required"},
]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {
                "object": "error",
                "message": "Invalid model: nope",
                "type": "invalid_request_error",
                "param": "model",
                "code": "unknown_model",
            },
            "Invalid model: nope",
        ),
        ({"message": "Requests rate limit exceeded"}, "Requests rate limit exceeded"),
        ({"message": "Unauthorized", "request_id": "abc"}, "Unauthorized"),
        ({"detail": "Unauthorized"}, "Unauthorized"),
        (
            {"detail": VALIDATION},
            "body.store: Extra inputs are not permitted; body.messages.0.content: Field required",
        ),
        (
            {
                "object": "error",
                "message": {"detail": VALIDATION[:1]},
                "type": "invalid_request_error",
                "param": None,
                "code": None,
            },
            "body.store: Extra inputs are not permitted",
        ),
        ({"error": {"message": "nested"}}, "nested"),
        (
            "upstream connect error or disconnect/reset",
            "upstream connect error or disconnect/reset",
        ),
        ("", "400 Bad Request"),
        ({"unexpected": 1}, "400 Bad Request"),
    ],
)
def test_message_from_every_body_shape(body: Any, message: str) -> None:
    error = error_from_response(answer(400, body))
    assert error.message == message
    assert error.status_code == 400
    assert str(error) == f"HTTP 400: {message}"


@pytest.mark.parametrize(
    ("status", "headers", "cls", "retryable"),
    [
        (400, {}, RequestRejected, False),
        (401, {}, RequestRejected, False),
        (403, {}, RequestRejected, False),
        (404, {}, RequestRejected, False),
        (409, {}, RequestRejected, False),
        (422, {}, RequestRejected, False),
        (307, {"location": "https://elsewhere"}, RequestRejected, False),
        (408, {}, ServerError, True),
        (429, {}, RateLimited, True),
        (429, {"x-ratelimit-limit-req-minute": "60"}, RateLimited, True),
        (429, {"x-ratelimit-limit-req-minute": "0"}, NoAllowance, False),
        (500, {}, ServerError, True),
        (502, {}, ServerError, True),
        (503, {}, ServerError, True),
        (504, {}, ServerError, True),
        (529, {}, ServerError, True),
    ],
)
def test_status_classes(
    status: int, headers: dict[str, str], cls: type[UpstreamError], retryable: bool
) -> None:
    error = error_from_response(answer(status, {"message": "m"}, headers))
    assert type(error) is cls
    assert error.retryable is retryable
    assert isinstance(error, UpstreamError)


def test_no_allowance_is_a_rate_limit_that_is_not_retried() -> None:
    error = error_from_response(answer(429, {}, {"x-ratelimit-limit-req-minute": "0"}))
    assert isinstance(error, RateLimited)
    assert not error.retryable


def test_rate_limit_headers_current_and_older_forms() -> None:
    headers = {
        "x-ratelimit-limit-req-minute": "720",
        "X-RateLimit-Remaining-Tokens-Minute": "4999000",
        "x-ratelimit-tokens-query-cost": "12.5",
        "ratelimitbysize-reset": "17",
        "x-ratelimitbysize-remaining-month": "n/a",
        "x-kong-request-id": "k1",
        "authorization": "Bearer leaked?",
    }
    error = error_from_response(answer(429, {"message": "Rate limit exceeded"}, headers))
    assert error.rate_limit == {
        "x-ratelimit-limit-req-minute": 720,
        "x-ratelimit-remaining-tokens-minute": 4999000,
        "x-ratelimit-tokens-query-cost": 12.5,
        "ratelimitbysize-reset": 17,
        "x-ratelimitbysize-remaining-month": "n/a",
    }


NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({}, None),
        ({"retry-after": "7"}, 7.0),
        ({"Retry-After": "2.5"}, 2.5),
        ({"retry-after": "-3"}, 0.0),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after-ms": "junk", "retry-after": "9"}, 9.0),
        ({"retry-after": format_datetime(NOW + timedelta(seconds=30), usegmt=True)}, 30.0),
        ({"retry-after": format_datetime(NOW - timedelta(seconds=30), usegmt=True)}, 0.0),
        ({"retry-after": "Thu, 01 Jan 2026 12:00:10"}, 10.0),
        ({"retry-after": "soon"}, None),
        ({"retry-after": "inf"}, None),
        ({"retry-after": "nan"}, None),
    ],
)
def test_retry_after_forms(headers: dict[str, str], seconds: float | None) -> None:
    assert retry_after_seconds(httpx.Headers(headers), now=NOW) == seconds


def test_retry_after_on_the_error() -> None:
    error = error_from_response(answer(503, "busy", {"retry-after": "4"}))
    assert error.retry_after == 4.0


def test_body_is_parsed_or_text_and_truncated() -> None:
    assert error_from_response(answer(400, {"message": "m"})).body == {"message": "m"}
    assert error_from_response(answer(502, "<html>bad gateway</html>")).body == (
        "<html>bad gateway</html>"
    )
    assert error_from_response(answer(502, "")).body is None
    long_body = error_from_response(answer(500, {"message": "x" * 5000})).body
    assert isinstance(long_body, str)
    assert len(long_body) == MAX_BODY_CHARS + 1
    long_text = error_from_response(answer(500, "y" * 5000))
    assert long_text.message == "y" * 500


def test_to_dict_is_json_safe_and_has_no_secret() -> None:
    request = httpx.Request(
        "POST", "https://api.mistral.ai/v1/x", headers={"Authorization": "Bearer sk-secret"}
    )
    response = httpx.Response(
        429,
        json={"object": "error", "message": "Rate limit exceeded", "code": "1300"},
        headers={"retry-after": "3", "x-ratelimit-remaining-req-minute": "0"},
        request=request,
    )
    data = error_from_response(response).to_dict()
    assert data == {
        "type": "rate_limited",
        "message": "Rate limit exceeded",
        "status_code": 429,
        "details": {
            "body": {"object": "error", "message": "Rate limit exceeded", "code": "1300"},
            "retry_after": 3.0,
            "rate_limit": {"x-ratelimit-remaining-req-minute": 0},
        },
    }
    assert "sk-secret" not in json.dumps(data)


def test_to_dict_without_a_response() -> None:
    error = UpstreamTimeout("ReadTimeout: timed out")
    assert error.to_dict() == {
        "type": "upstream_timeout",
        "message": "ReadTimeout: timed out",
        "status_code": None,
        "details": {},
    }


@pytest.mark.parametrize(
    ("exc", "cls"),
    [
        (httpx.ConnectError("refused"), UpstreamConnectionError),
        (httpx.ReadError("reset"), UpstreamConnectionError),
        (httpx.WriteError("broken pipe"), UpstreamConnectionError),
        (httpx.RemoteProtocolError("peer closed"), UpstreamConnectionError),
        (httpx.ProxyError("proxy"), UpstreamConnectionError),
        (httpx.CloseError("close"), UpstreamConnectionError),
        (httpx.ConnectTimeout("t"), UpstreamTimeout),
        (httpx.ReadTimeout("t"), UpstreamTimeout),
        (httpx.WriteTimeout("t"), UpstreamTimeout),
        (httpx.PoolTimeout("t"), UpstreamTimeout),
        (httpx.UnsupportedProtocol("ftp"), RequestRejected),
        (httpx.LocalProtocolError("bad header"), RequestRejected),
        (httpx.InvalidURL("bad"), RequestRejected),
        (httpx.DecodingError("gzip"), InvalidResponse),
    ],
)
def test_exception_mapping(exc: Exception, cls: type[UpstreamError]) -> None:
    error = error_from_exception(exc)
    assert type(error) is cls
    assert error.status_code is None
    assert error.message.startswith(type(exc).__name__)


def test_exception_without_text_still_has_a_message() -> None:
    assert error_from_exception(httpx.ReadTimeout("")).message == "ReadTimeout"
