"""An ASGI middleware that refuses request bodies above a size limit with 413."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mistral_queue.api.errors import error_response


class _TooLarge(Exception):
    pass


class BodyLimit:
    """Answer 413 when the body exceeds ``max_bytes`` (by Content-Length or as it streams).

    ``overrides`` maps ``(method, path)`` to another limit, e.g. the batch size on
    ``POST /v1/jobs`` (whose route then applies ``max_bytes`` to other job types itself).
    """

    def __init__(
        self, app: ASGIApp, max_bytes: int, overrides: Mapping[tuple[str, str], int] | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.overrides = dict(overrides or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.overrides.get((scope["method"], scope["path"]), self.max_bytes)
        await self._limited(scope, receive, send, limit)

    async def _limited(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(scope, receive, send, limit)
            return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._refuse(scope, receive, send, limit)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        message = f"the request body is larger than {limit} bytes"
        await error_response(413, "too_large", message)(scope, receive, send)


class HeaderLimit:
    """Answer 431 when the request's headers add up to more than ``max_bytes``.

    uvicorn's httptools parser sets no such bound, so one request could make every route
    handle megabytes of headers; 431 is RFC 6585's "Request Header Fields Too Large".
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            size = sum(len(name) + len(value) for name, value in scope["headers"])
            if size > self.max_bytes:
                message = f"the request headers are larger than {self.max_bytes} bytes"
                await error_response(431, "headers_too_large", message)(scope, receive, send)
                return
        await self.app(scope, receive, send)
