"""``GET /v1/usage``: the caller's tenant's tokens, cost and finished jobs over UTC days."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from mistral_queue.api.deps import ServicesDep, TenantDep
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
    """Tokens, cost and finished jobs of the caller's tenant; default: this month so far.

    Days are kept for MAX_DAYS days, so ``from`` is moved up to the oldest day that can hold
    usage (the response's ``from`` says which); a ``from`` after ``to`` is an empty range.
    """
    last = to or datetime.now(UTC).date()
    # date.min has no earlier days to keep: the kept range then starts at date.min itself.
    oldest = last - timedelta(days=min(MAX_DAYS - 1, (last - date.min).days))
    first = max(from_ or last.replace(day=1), oldest)
    return await usage_report(services.redis, tenant, first, last, group_by)
