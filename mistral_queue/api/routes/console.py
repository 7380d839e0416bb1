"""The jobs console: a static single-page app served at ``/console`` from the package.

The page holds no secret: it asks for an API key, keeps it in the tab's ``sessionStorage`` and
sends it as a Bearer header to the same API every client uses, so the console can do nothing
a key could not do with curl. Its assets are shipped in ``api/console/`` (no build step), and
every console response carries a Content-Security-Policy that allows only this origin's
scripts and styles (no inline code), forbids framing and sends no referrer.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: The console's static files (HTML, ES modules, CSS), shipped as package data.
ASSETS = Path(__file__).resolve().parent.parent / "console"

#: Content-Security-Policy of every console response (CSP Level 3, no inline scripts).
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

#: Headers every console response carries.
SECURITY_HEADERS = (
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-cache"),
)

router = APIRouter(include_in_schema=False)


@router.get("/console")
async def console_index() -> FileResponse:
    """The console's single page; every view is a ``#/…`` route inside it."""
    return FileResponse(ASSETS / "index.html", media_type="text/html")


@router.get("/console/")
async def console_slash() -> RedirectResponse:
    """``/console/`` leads to the page (relative asset paths are absolute, so either works)."""
    return RedirectResponse("/console", status_code=308)


class ConsoleHeaders:
    """ASGI middleware adding ``SECURITY_HEADERS`` to responses under ``/console``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith("/console"):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install(app: FastAPI) -> None:
    """Serve the console page, its assets and its security headers on ``app``."""
    app.include_router(router)
    app.mount("/console/static", StaticFiles(directory=ASSETS), name="console-static")
    app.add_middleware(ConsoleHeaders)
