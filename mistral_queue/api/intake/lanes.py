"""Upstream ids stay in their lane: a tenant names only agents it may use and only
conversations and files its own jobs made (``jobs.ownership``).

The id grammar itself is checked by the request schemas (``mistral.ids``); this module
checks what a syntactically valid id refers to. Another tenant's conversation or file is
answered exactly like one that does not exist (404), so its existence is not disclosed.
"""

from __future__ import annotations

from fnmatch import fnmatchcase

import redis.asyncio as aredis

from mistral_queue.api.errors import ApiError
from mistral_queue.api.schemas.agent import ConversationRequest
from mistral_queue.api.schemas.jobs import AgentJobCreate, BatchJobCreate, JobCreate
from mistral_queue.config import Settings
from mistral_queue.jobs.ownership import owns_conversation, owns_file


def _not_found(field: str, what: str) -> ApiError:
    detail = {"field": field, "message": f"no such {what}", "type": "not_found"}
    return ApiError(404, "not_found", f"{field}: no such {what}", [detail])


def check_agent(settings: Settings, tenant: str, agent_id: str | None, field: str) -> None:
    """Refuse an agent outside the tenant's ``MQ_TENANT_ALLOWED_AGENTS`` patterns.

    Raises:
        ApiError: 403 ``forbidden`` naming ``field``.
    """
    allowed = settings.tenant_allowed_agents.get(tenant)
    if agent_id is None or allowed is None:
        return
    if not any(fnmatchcase(agent_id, pattern) for pattern in allowed):
        detail = {"field": field, "message": "agent not allowed", "type": "forbidden"}
        raise ApiError(403, "forbidden", f"{field}: this tenant may not use that agent", [detail])


async def check_lanes(
    client: aredis.Redis, settings: Settings, tenant: str, body: JobCreate
) -> None:
    """Check the upstream objects a job names before anything reaches Mistral.

    Raises:
        ApiError: 403 for an agent the tenant may not use; 404 for a conversation or input
            file that no job of the tenant made.
    """
    if isinstance(body, AgentJobCreate):
        request = body.request
        check_agent(settings, tenant, request.agent_id, "request.agent_id")
        conversation_id = (
            request.conversation_id if isinstance(request, ConversationRequest) else None
        )
        if conversation_id and not await owns_conversation(client, tenant, conversation_id):
            raise _not_found("request.conversation_id", "conversation")
    elif isinstance(body, BatchJobCreate):
        check_agent(settings, tenant, body.request.agent_id, "request.agent_id")
        file_id = body.request.input_file
        if file_id is not None and not await owns_file(client, tenant, file_id):
            raise _not_found("request.input_file", "file")
