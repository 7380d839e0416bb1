"""Auth before body: an ASGI middleware that refuses a missing or wrong key at once.

FastAPI reads and parses a route's body before it runs its dependencies, so without this a
caller with no key could make the API wait for (and buffer) up to the body limit. This check
runs on the headers alone: a 401 goes out before any body byte is read, with
``Connection: close`` so the server does not wait for a body it will never use. The tenant it
found is left in the request state for ``deps.get_tenant``.
"""

from __future__ import annotations

import hmac
import logging

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from mistral_queue.api.errors import error_response
from mistral_queue.config import Settings

log = logging.getLogger(__name__)

#: Routes anyone may call (probes, metrics, the API description).
PUBLIC_PATHS = frozenset(
    {"/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
)


def presented_key(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, else None."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def static_tenant(settings: Settings, presented: str | None) -> str | None:
    """The ``MQ_API_KEYS`` tenant of ``presented``, compared in constant time with every key."""
    if presented is None:
        return None
    given = presented.encode()
    tenant = None
    for api_key in settings.api_keys:
        if hmac.compare_digest(given, api_key.key.get_secret_value().encode()):
            tenant = api_key.tenant
    return tenant


class AuthFirst:
    """Answer 401 from the headers alone for every non-public route without a valid key."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in PUBLIC_PATHS:
            await self.app(scope, receive, send)
            return
        presented = presented_key(Headers(scope=scope).get("authorization"))
        tenant = static_tenant(self.settings, presented)
        if tenant is None:
            client = scope.get("client")
            log.warning(
                "rejected request from %s: %s API key",
                client[0] if client else "?",
                "no" if presented is None else "unknown",
            )
            headers = {"WWW-Authenticate": "Bearer", "Connection": "close"}
            response = error_response(
                401, "unauthorized", "missing or invalid API key", None, headers
            )
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})["tenant"] = tenant
        await self.app(scope, receive, send)
