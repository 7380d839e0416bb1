"""``/v1/endpoints``: a tenant's registered webhook endpoints (the Svix model).

Another tenant's endpoint is a 404, as a job is. A job without ``callback_url`` is delivered
to every enabled endpoint whose ``event_types`` match (``tasks.endpoint_delivery``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from mistral_queue.api.deps import ServicesDep, TenantDep
from mistral_queue.api.errors import ApiError
from mistral_queue.api.orjson_route import OrjsonRoute
from mistral_queue.api.schemas.jobs import ErrorBody
from mistral_queue.api.schemas.webhook_endpoints import (
    AttemptList,
    EndpointCreate,
    EndpointList,
    EndpointSecret,
    EndpointUpdate,
    RecoverRequest,
    RecoverResult,
)
from mistral_queue.jobs.endpoint_store import EndpointNotFound, EndpointStore
from mistral_queue.webhooks.endpoints import Endpoint, StoredEndpoint
from mistral_queue.webhooks.errors import UnsafeURLError
from mistral_queue.webhooks.guard import check_url_async

router = APIRouter(prefix="/v1/endpoints", tags=["endpoints"], route_class=OrjsonRoute)

ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorBody} for code in (400, 401, 404, 422, 503)
}
Cursor = Annotated[str | None, Query(max_length=40, pattern=r"^[\w-]+$")]
Limit = Annotated[int, Query(ge=1, le=100)]


async def _owned(services: ServicesDep, tenant: str, endpoint_id: str) -> StoredEndpoint:
    try:
        return await EndpointStore(services.redis).get(tenant, endpoint_id)
    except EndpointNotFound as exc:
        raise ApiError(404, "not_found", str(exc)) from None


async def _check_url(services: ServicesDep, url: str) -> None:
    # The same guard as callback_url; re-checked at each delivery.
    try:
        await check_url_async(url, services.settings.callback_allow_hosts)
    except UnsafeURLError as exc:
        detail = {"field": "url", "message": str(exc), "type": "unsafe_url"}
        raise ApiError(422, "validation_error", f"url: {exc}", [detail]) from None


@router.post("", status_code=201, response_model=Endpoint, responses=ERRORS)
async def create_endpoint(
    body: EndpointCreate, tenant: TenantDep, services: ServicesDep
) -> Endpoint:
    """Register an endpoint; it gets its own ``whsec_`` secret (``GET …/secret``)."""
    await _check_url(services, body.url)
    stored = await EndpointStore(services.redis).create(tenant, body.model_dump())
    return stored.endpoint


@router.get("", response_model=EndpointList, responses=ERRORS)
async def list_endpoints(
    tenant: TenantDep, services: ServicesDep, cursor: Cursor = None, limit: Limit = 20
) -> EndpointList:
    """The tenant's endpoints, oldest first; pass ``next_cursor`` back as ``cursor``."""
    found, next_cursor = await EndpointStore(services.redis).page(tenant, cursor, limit)
    return EndpointList(data=found, next_cursor=next_cursor)


@router.get("/{endpoint_id}", response_model=Endpoint, responses=ERRORS)
async def get_endpoint(endpoint_id: str, tenant: TenantDep, services: ServicesDep) -> Endpoint:
    """One endpoint."""
    return (await _owned(services, tenant, endpoint_id)).endpoint


@router.patch("/{endpoint_id}", response_model=Endpoint, responses=ERRORS)
async def update_endpoint(
    endpoint_id: str, body: EndpointUpdate, tenant: TenantDep, services: ServicesDep
) -> Endpoint:
    """Change the fields given; ``"disabled": false`` enables it again."""
    stored = await _owned(services, tenant, endpoint_id)
    changes: dict[str, Any] = body.model_dump(exclude_unset=True)
    if changes.get("url") is not None:
        await _check_url(services, changes["url"])
    for field in ("url", "description", "disabled"):
        if field in changes and changes[field] is None:
            detail = {"field": field, "message": "may not be null", "type": "null"}
            raise ApiError(422, "validation_error", f"{field}: may not be null", [detail])
    saved = await EndpointStore(services.redis).save(stored, changes)
    return saved.endpoint


@router.delete("/{endpoint_id}", status_code=204, responses=ERRORS)
async def delete_endpoint(endpoint_id: str, tenant: TenantDep, services: ServicesDep) -> Response:
    """Delete the endpoint; messages still pending to it are dropped."""
    stored = await _owned(services, tenant, endpoint_id)
    await EndpointStore(services.redis).delete(stored)
    return Response(status_code=204)


@router.get("/{endpoint_id}/secret", response_model=EndpointSecret, responses=ERRORS)
async def get_secret(endpoint_id: str, tenant: TenantDep, services: ServicesDep) -> EndpointSecret:
    """The endpoint's current signing secret (``whsec_…``)."""
    return EndpointSecret(key=(await _owned(services, tenant, endpoint_id)).secret)


@router.post("/{endpoint_id}/secret/rotate", response_model=EndpointSecret, responses=ERRORS)
async def rotate_secret(
    endpoint_id: str, tenant: TenantDep, services: ServicesDep
) -> EndpointSecret:
    """A new secret; the previous one also signs for ``MQ_WEBHOOK_ROTATION_GRACE_SECONDS``."""
    stored = await _owned(services, tenant, endpoint_id)
    grace = services.settings.webhook_rotation_grace_seconds
    rotated = await EndpointStore(services.redis).rotate(stored, grace)
    return EndpointSecret(key=rotated.secret)


@router.get("/{endpoint_id}/attempts", response_model=AttemptList, responses=ERRORS)
async def list_attempts(
    endpoint_id: str, tenant: TenantDep, services: ServicesDep, cursor: Cursor = None,
    limit: Limit = 20,
) -> AttemptList:  # fmt: skip
    """The endpoint's delivery attempts, newest first."""
    await _owned(services, tenant, endpoint_id)
    items, next_cursor = await EndpointStore(services.redis).attempts(endpoint_id, cursor, limit)
    return AttemptList.model_validate({"data": items, "next_cursor": next_cursor})


@router.post(
    "/{endpoint_id}/recover", status_code=202, response_model=RecoverResult, responses=ERRORS
)
async def recover(
    endpoint_id: str, body: RecoverRequest, tenant: TenantDep, services: ServicesDep
) -> RecoverResult:
    """Send again every message that failed since ``since``, with the same ``webhook-id``s."""
    await _owned(services, tenant, endpoint_id)
    store = EndpointStore(services.redis)
    found = await store.failed_since(endpoint_id, body.since.timestamp())
    for job_id, event in found:
        await services.publisher.deliver_to_endpoint(endpoint_id, job_id, event)
    return RecoverResult(recovered=len(found), since=body.since)
