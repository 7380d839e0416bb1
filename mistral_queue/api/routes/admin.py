"""``/v1/admin/tenants``: managed tenants and their API keys (bearer ``MQ_ADMIN_KEY``).

``auth_first.AuthFirst`` has checked the admin key before any of these runs. A new tenant's
key is shown once, in the 201 answer; only its SHA-256 is stored (``jobs.tenants``).
Deleting a tenant stops its keys on every API process at once and cancels its unfinished jobs.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mistral_queue import config_values
from mistral_queue.api.deps import Services, ServicesDep
from mistral_queue.api.errors import ApiError
from mistral_queue.api.schemas.jobs import ErrorBody
from mistral_queue.jobs import changes, keys, tenants
from mistral_queue.jobs.errors import InvalidTransition
from mistral_queue.jobs.model import CANCELLABLE, JobType
from mistral_queue.webhooks.tenant_secrets import current_secret

router = APIRouter(prefix="/v1/admin/tenants", tags=["admin"])

ERRORS: dict[int | str, dict[str, Any]] = {c: {"model": ErrorBody} for c in (401, 403, 404, 409)}

#: Largest ``limits`` object, bytes of JSON (opaque until the limits issue gives it meaning).
MAX_LIMITS_BYTES = 4096


class TenantLimits(BaseModel):
    """``limits``: the tenant's limits (the fields of one ``MQ_TENANT_LIMITS`` entry)."""

    limits: dict[str, Any] | None = None

    @field_validator("limits")
    @classmethod
    def _small(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None and len(orjson.dumps(value)) > MAX_LIMITS_BYTES:
            raise ValueError(f"must be at most {MAX_LIMITS_BYTES} bytes of JSON")
        if value is not None:
            # The MQ_TENANT_LIMITS fields (docs/fairness.md), checked as the settings are.
            try:
                config_values.TenantLimits.model_validate(value)
            except ValidationError as exc:
                raise ValueError(str(exc).replace("\n", "; ")) from None
        return value


class TenantCreate(TenantLimits):
    """A new managed tenant."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$", description="The tenant's id.")


class TenantCreated(BaseModel):
    """The new tenant, with its first key (shown this once) and its webhook secret."""

    id: str
    key_id: str
    api_key: str
    webhook_secret: str


class KeyCreated(BaseModel):
    """A new key of a tenant (shown this once)."""

    key_id: str
    api_key: str


class TenantView(BaseModel):
    """A managed tenant: its limits and its keys' ids (never the keys)."""

    id: str
    created_at: str
    limits: dict[str, Any] | None
    keys: list[dict[str, str]]


class TenantList(BaseModel):
    data: list[TenantView]


async def _existing(services: Services, tenant: str) -> TenantView:
    found = await tenants.get(services.redis, tenant)
    if found is None:
        raise ApiError(404, "not_found", f"tenant {tenant} not found")
    return TenantView.model_validate(found)


@router.post("", status_code=201, response_model=TenantCreated, responses=ERRORS)
async def create_tenant(body: TenantCreate, services: ServicesDep) -> TenantCreated:
    """Register a tenant; 409 when the id is taken (also by ``MQ_API_KEYS`` or a deleted one)."""
    static = {api_key.tenant for api_key in services.settings.api_keys}
    try:
        if body.id in static:
            raise tenants.TenantExists(body.id)
        new = await tenants.create(services.redis, body.id, body.limits)
    except tenants.TenantExists:
        raise ApiError(409, "conflict", f"tenant id {body.id} is taken") from None
    secret = await current_secret(services.redis, services.settings, body.id)
    return TenantCreated(id=body.id, key_id=new.key_id, api_key=new.api_key, webhook_secret=secret)


@router.get("", response_model=TenantList, responses=ERRORS)
async def list_tenants(services: ServicesDep) -> TenantList:
    """Every managed tenant (static ``MQ_API_KEYS`` tenants are not listed)."""
    return TenantList(
        data=[TenantView.model_validate(t) for t in await tenants.list_all(services.redis)]
    )


@router.get("/{tenant}", response_model=TenantView, responses=ERRORS)
async def get_tenant(tenant: str, services: ServicesDep) -> TenantView:
    """One managed tenant."""
    return await _existing(services, tenant)


@router.patch("/{tenant}", response_model=TenantView, responses=ERRORS)
async def update_tenant(tenant: str, body: TenantLimits, services: ServicesDep) -> TenantView:
    """Replace the tenant's ``limits``."""
    await _existing(services, tenant)
    await tenants.set_limits(services.redis, tenant, body.limits)
    return await _existing(services, tenant)


@router.delete("/{tenant}", status_code=204, response_class=Response, responses=ERRORS)
async def delete_tenant(tenant: str, services: ServicesDep) -> Response:
    """Delete the tenant: its keys stop at once and its unfinished jobs are cancelled."""
    await _existing(services, tenant)
    await tenants.delete(services.redis, tenant)
    await _cancel_jobs(services, tenant)
    return Response(status_code=204)


async def _cancel_jobs(services: Services, tenant: str) -> None:
    """Cancel every job of ``tenant`` that can still be cancelled, as ``POST …/cancel`` does."""
    job_ids: list[str] = await services.redis.zrange(keys.tenant_jobs(tenant), 0, -1)  # type: ignore[assignment]
    for job_id in job_ids:
        record = await services.store.get(job_id, tenant=tenant)
        if record is None or record.status not in CANCELLABLE:
            continue
        try:
            await services.store.apply(job_id, tenant, changes.cancel("its tenant was deleted"))
        except InvalidTransition:
            continue
        await services.publisher.revoke(job_id)
        if record.job.type == JobType.BATCH:
            await services.publisher.cancel_batch(job_id)
        if record.job.callback.url:
            await services.publisher.deliver_callback(job_id)


@router.post("/{tenant}/keys", status_code=201, response_model=KeyCreated, responses=ERRORS)
async def add_key(tenant: str, services: ServicesDep) -> KeyCreated:
    """Another key for the tenant (e.g. to rotate: add, switch clients, revoke the old one)."""
    await _existing(services, tenant)
    new = await tenants.add_key(services.redis, tenant)
    return KeyCreated(key_id=new.key_id, api_key=new.api_key)


@router.delete(
    "/{tenant}/keys/{key_id}", status_code=204, response_class=Response, responses=ERRORS
)
async def revoke_key(tenant: str, key_id: str, services: ServicesDep) -> Response:
    """Revoke one key: every API process refuses it from its next request on."""
    if not await tenants.revoke_key(services.redis, tenant, key_id):
        raise ApiError(404, "not_found", f"key {key_id} of tenant {tenant} not found")
    return Response(status_code=204)
