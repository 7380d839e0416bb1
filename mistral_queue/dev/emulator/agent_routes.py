"""Routes of ``/v1/agents`` (beta CRUD with versions) and ``/v1/agents/completions``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from mistral_queue.dev.emulator.agent_schema import CreateAgentRequest, UpdateAgentRequest
from mistral_queue.dev.emulator.chat import complete, with_agent
from mistral_queue.dev.emulator.chat_routes import render_completion
from mistral_queue.dev.emulator.chat_schema import AgentsCompletionRequest
from mistral_queue.dev.emulator.state import StateDep
from mistral_queue.dev.emulator.validation import check_chat_model
from mistral_queue.dev.emulator.wire import json_response

router = APIRouter(prefix="/v1/agents")


@router.post("")
async def create_agent(body: CreateAgentRequest, state: StateDep) -> Response:
    """Create an agent (version 0)."""
    check_chat_model(state.config, body.model)
    return json_response(state.agents.create(body))


@router.get("")
async def list_agents(
    state: StateDep, page: int = 0, page_size: int = 20, name: str | None = None
) -> Response:
    """Agents newest first: a bare JSON array, as ``GET /v1/agents`` answers."""
    return json_response(state.agents.page(page, page_size, name))


@router.get("/pages")
async def list_agent_pages(
    state: StateDep,
    page_size: Annotated[int, Query(ge=1, le=1000)] = 20,
    page_token: str | None = None,
    name: str | None = None,
) -> Response:
    """Agents newest first, cursor-paginated (``next_page_token``), as ``list_pages`` reads."""
    return json_response(state.agents.cursor_page(page_size, page_token, name))


@router.get("/{agent_id}")
async def get_agent(
    agent_id: str, state: StateDep, agent_version: int | str | None = None
) -> Response:
    """One agent, at its active version or at ``agent_version``."""
    return json_response(state.agents.get(agent_id, agent_version))


@router.patch("/{agent_id}")
async def update_agent(agent_id: str, body: UpdateAgentRequest, state: StateDep) -> Response:
    """Append a version with the given fields and make it active."""
    if body.model is not None:
        check_chat_model(state.config, body.model)
    return json_response(state.agents.update(agent_id, body))


@router.delete("/{agent_id}", status_code=204)
async def delete_agent(agent_id: str, state: StateDep) -> Response:
    """Delete an agent (204, no body)."""
    state.agents.delete(agent_id)
    return Response(status_code=204)


@router.patch("/{agent_id}/version")
async def set_agent_version(agent_id: str, version: int, state: StateDep) -> Response:
    """Make an existing version the active one."""
    return json_response(state.agents.set_version(agent_id, version))


@router.get("/{agent_id}/versions")
async def list_agent_versions(agent_id: str, state: StateDep) -> Response:
    """Every version of an agent, newest first."""
    return json_response(state.agents.versions(agent_id))


@router.get("/{agent_id}/versions/{version}")
async def get_agent_version(agent_id: str, version: int, state: StateDep) -> Response:
    """One version of an agent."""
    return json_response(state.agents.get(agent_id, version))


@router.put("/{agent_id}/aliases")
async def set_agent_alias(agent_id: str, alias: str, version: int, state: StateDep) -> Response:
    """Create or move a version alias."""
    return json_response(state.agents.set_alias(agent_id, alias, version))


@router.get("/{agent_id}/aliases")
async def list_agent_aliases(agent_id: str, state: StateDep) -> Response:
    """Every alias of an agent."""
    return json_response(state.agents.aliases(agent_id))


@router.delete("/{agent_id}/aliases", status_code=204)
async def delete_agent_alias(agent_id: str, alias: str, state: StateDep) -> Response:
    """Delete an alias (204, no body)."""
    state.agents.delete_alias(agent_id, alias)
    return Response(status_code=204)


@router.post("/completions")
async def agents_completions(
    body: AgentsCompletionRequest, request: Request, state: StateDep
) -> Response:
    """A chat completion by an agent: its model, instructions, function tools and args."""
    agent = state.agents.get(body.agent_id)
    merged = with_agent(body, agent)
    return render_completion(complete(merged, agent["model"]), body.stream, request, state)
