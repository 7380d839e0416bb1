"""``/v1/webhook-secret``: the caller's own Standard Webhooks secret, and its rotation.

Each tenant's callbacks and HTTP-tool calls are signed with its own secret only (derived from
``MQ_WEBHOOK_SECRET``, see ``webhooks.tenant_secrets``), so one tenant cannot forge another's.
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from mistral_queue.api.deps import ServicesDep, TenantDep
from mistral_queue.api.schemas.jobs import ErrorBody
from mistral_queue.webhooks.tenant_secrets import current_secret, rotate

router = APIRouter(prefix="/v1/webhook-secret", tags=["webhooks"])


class WebhookSecret(BaseModel):
    """A Standard Webhooks secret (v1 §Secret): ``whsec_`` + base64 of 32 bytes."""

    key: str = Field(examples=["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwMfKQ9r8GKYo="])


@router.get("", response_model=WebhookSecret, responses={401: {"model": ErrorBody}})
async def get_webhook_secret(tenant: TenantDep, services: ServicesDep) -> WebhookSecret:
    """The secret the caller's callbacks and HTTP-tool calls are signed with now."""
    return WebhookSecret(key=await current_secret(services.redis, services.settings, tenant))


@router.post("/rotate", response_model=WebhookSecret, responses={401: {"model": ErrorBody}})
async def rotate_webhook_secret(tenant: TenantDep, services: ServicesDep) -> WebhookSecret:
    """Switch to a new secret, returned here.

    For ``MQ_WEBHOOK_ROTATION_GRACE_SECONDS`` (default one day) the previous secret signs
    too: each message then carries two ``v1,`` signatures, so a receiver that still has the
    old secret keeps verifying while it is updated. A second rotation within the grace ends
    the oldest secret at once.
    """
    return WebhookSecret(key=await rotate(services.redis, services.settings, tenant))
