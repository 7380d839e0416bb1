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

import redis
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from mistral_queue.api.errors import error_response
from mistral_queue.config import Settings
from mistral_queue.jobs import tenants

#: ``(status, error type, message)`` of a refused request.
Refusal = tuple[int, str, str]

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


#: Prefixes of public pages: the console's static page and assets (its API calls carry keys).
PUBLIC_PREFIXES = ("/console/",)

#: Header with which the admin key acts as one tenant (the console's tenant picker).
ACTING_TENANT_HEADER = "x-mq-tenant"

#: The admin API's path prefix: its routes take ``MQ_ADMIN_KEY`` instead of a tenant's key.
ADMIN_PREFIX = "/v1/admin/"


def _is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or f"{path}/".startswith(PUBLIC_PREFIXES)


class AuthFirst:
    """Answer 401 from the headers alone for every non-public route without a valid key.

    A tenant key is looked up in ``MQ_API_KEYS`` and then among the managed keys in Redis
    (one read per request, no cache: a revoked key stops at once on every process).
    """

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _is_public(scope["path"]):
            await self.app(scope, receive, send)
            return
        presented = presented_key(Headers(scope=scope).get("authorization"))
        try:
            if f"{scope['path']}/".startswith(ADMIN_PREFIX):
                refusal = await self._admin_refusal(scope, presented)
            else:
                refusal = await self._tenant_refusal(scope, presented)
        except redis.RedisError as exc:
            log.warning("API key lookup failed: %s", type(exc).__name__)
            refusal = (503, "unavailable", "the key store is unreachable; try again")
        if refusal is None:
            await self.app(scope, receive, send)
            return
        status, kind, message = refusal
        headers = {"Connection": "close"}
        if status == 401:
            client = scope.get("client")
            which = "no" if presented is None else "unknown"
            log.warning("rejected request from %s: %s API key", client[0] if client else "?", which)
            headers["WWW-Authenticate"] = "Bearer"
        await error_response(status, kind, message, None, headers)(scope, receive, send)

    def _is_admin(self, presented: str | None) -> bool:
        admin = self.settings.admin_key
        return (
            admin is not None
            and presented is not None
            and hmac.compare_digest(presented.encode(), admin.get_secret_value().encode())
        )

    async def _acting_tenant(self, scope: Scope) -> str | None:
        """The tenant the admin key acts as (``X-MQ-Tenant``), if it names a known one."""
        wanted = Headers(scope=scope).get(ACTING_TENANT_HEADER)
        if not wanted:
            return None
        if any(api_key.tenant == wanted for api_key in self.settings.api_keys):
            return wanted
        known = await tenants.get(scope["app"].state.services.redis, wanted)
        return wanted if known is not None else None

    async def _tenant_refusal(self, scope: Scope, presented: str | None) -> Refusal | None:
        tenant = static_tenant(self.settings, presented)
        if tenant is None and self._is_admin(presented):
            tenant = await self._acting_tenant(scope)
        if tenant is None and presented is not None:
            tenant = await tenants.tenant_of_key(scope["app"].state.services.redis, presented)
        if tenant is None:
            return (401, "unauthorized", "missing or invalid API key")
        scope.setdefault("state", {})["tenant"] = tenant
        return None

    async def _admin_refusal(self, scope: Scope, presented: str | None) -> Refusal | None:
        if self.settings.admin_key is None:
            return (401, "unauthorized", "the admin API is off: MQ_ADMIN_KEY is not set")
        if self._is_admin(presented):
            return None
        if presented is not None and await self._tenant_refusal(scope, presented) is None:
            return (403, "forbidden", "a tenant's key cannot use the admin API")
        return (401, "unauthorized", "missing or invalid admin key")
