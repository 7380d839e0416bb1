"""A FastAPI dependency that verifies a callback and runs its handler once per ``webhook-id``.

Needs the ``fastapi`` extra: ``pip install "mistral-queue-client[fastapi]"``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from fastapi import HTTPException, Request

from mistral_queue_client.webhooks import (
    MemoryStore,
    WebhookIdStore,
    WebhookVerificationError,
    verify,
)


def webhook_receiver(
    secret: str | Sequence[str], store: WebhookIdStore | None = None
) -> Callable[[Request], AsyncIterator[dict[str, Any]]]:
    """A dependency giving the verified payload of a callback, at most once per ``webhook-id``.

    - a bad signature, a stale timestamp or missing headers → 400 (the handler is not run);
    - a ``webhook-id`` already handled → 200 ``{"detail": "duplicate"}``, so the sender stops
      retrying, and the handler is not run again;
    - a handler that raises releases the id, so the sender's retry runs it again.

    Args:
        secret: the ``whsec_…`` secret, or several while rotating.
        store: where handled ids are kept; a ``MemoryStore`` by default.

    Example:
        ``async def hook(event: Annotated[dict, Depends(webhook_receiver(SECRET))]): …``
    """
    seen = store if store is not None else MemoryStore()

    async def dependency(request: Request) -> AsyncIterator[dict[str, Any]]:
        body = await request.body()
        try:
            payload = verify(body, request.headers, secret)
        except WebhookVerificationError as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from None
        webhook_id = request.headers["webhook-id"]
        if not await seen.claim(webhook_id):
            raise HTTPException(status_code=200, detail="duplicate")
        try:
            yield payload
        except BaseException:
            await seen.release(webhook_id)
            raise

    return dependency
