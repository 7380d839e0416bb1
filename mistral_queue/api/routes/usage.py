"""``GET /v1/usage``: the caller's tenant's tokens, cost and finished jobs over UTC days."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from mistral_queue.api.deps import ServicesDep, TenantDep
from mistral_queue.api.errors import ApiError
from mistral_queue.api.orjson_route import OrjsonRoute
from mistral_queue.api.schemas.jobs import ErrorBody
from mistral_queue.jobs.usage_report import MAX_DAYS, GroupBy, usage_report

router = APIRouter(prefix="/v1/usage", tags=["usage"], route_class=OrjsonRoute)


class Tokens(BaseModel):
    prompt: int
    completion: int
    total: int


class UsageCost(BaseModel):
    currency: str = "USD"
    total: float


class Usage(BaseModel):
    """A tenant's usage from ``from`` to ``to`` (UTC days, both included)."""

    from_: str = Field(alias="from")
    to: str
    tokens: Tokens
    cost: UsageCost
    jobs: int
    #: With ``group_by``: one entry per day (``day``, ``jobs``) or per model (``model``).
    data: list[dict[str, Any]] | None = None


def _invalid(field: str, message: str) -> ApiError:
    details = [{"field": field, "message": message, "type": "value_error"}]
    return ApiError(422, "validation_error", f"{field}: {message}", details)


@router.get(
    "",
    response_model=Usage,
    response_model_exclude_none=True,
    responses={code: {"model": ErrorBody} for code in (401, 422, 503)},
)
async def get_usage(
    tenant: TenantDep,
    services: ServicesDep,
    from_: Annotated[date | None, Query(alias="from", description="First UTC day.")] = None,
    to: Annotated[date | None, Query(description="Last UTC day (default today).")] = None,
    group_by: Annotated[GroupBy | None, Query(description="Split by model or day.")] = None,
) -> dict[str, Any]:
    """Tokens, cost and finished jobs of the caller's tenant; default: this month so far."""
    last = to or datetime.now(UTC).date()
    first = from_ or last.replace(day=1)
    if first > last:
        raise _invalid("from", "must not be after 'to'")
    if (last - first).days >= MAX_DAYS:
        raise _invalid("from", f"the range may cover at most {MAX_DAYS} days")
    return await usage_report(services.redis, tenant, first, last, group_by)
