"""``create_app``: the Mistral-compatible emulator as one FastAPI application."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from mistral_queue.dev.emulator import (
    admin,
    agent_routes,
    batch_routes,
    chat_routes,
    conversation_routes,
    endpoint_routes,
    file_routes,
)
from mistral_queue.dev.emulator.config import EmulatorConfig
from mistral_queue.dev.emulator.errors import install_error_handlers
from mistral_queue.dev.emulator.middleware import TRANSPORT_KEY, EmulatorMiddleware
from mistral_queue.dev.emulator.state import EmulatorState


class EmulatorApp(FastAPI):
    """FastAPI that remembers uvicorn's transport of each request, so faults can close it."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # uvicorn's receive is a bound method of the request cycle, which holds the transport;
        # FastAPI's own middlewares wrap receive before ours sees it.
        transport = getattr(getattr(receive, "__self__", None), "transport", None)
        if callable(getattr(transport, "close", None)):
            scope[TRANSPORT_KEY] = transport
        await super().__call__(scope, receive, send)


def create_app(config: EmulatorConfig | None = None) -> FastAPI:
    """Build the emulator app; its state is ``app.state.emulator`` (an ``EmulatorState``).

    Serves the Mistral routes under ``/v1/`` (behind auth, faults and rate-limit headers, see
    ``middleware.py``) and the control API under ``/_emulator/``.
    """
    state = EmulatorState(config or EmulatorConfig())
    app = EmulatorApp(
        title="Mistral API emulator",
        docs_url="/_emulator/docs",
        redoc_url=None,
        openapi_url="/_emulator/openapi.json",
    )
    app.state.emulator = state
    install_error_handlers(app)
    app.include_router(chat_routes.router)
    app.include_router(agent_routes.router)
    app.include_router(conversation_routes.router)
    app.include_router(endpoint_routes.router)
    app.include_router(file_routes.router)
    app.include_router(batch_routes.router)
    app.include_router(admin.router)
    app.add_middleware(EmulatorMiddleware, state=state)
    return app
