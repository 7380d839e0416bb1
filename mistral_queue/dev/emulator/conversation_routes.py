"""Routes of ``/v1/conversations``: start, append, restart (JSON or stream), get, history.

A turn's inputs and outputs are stored together once the turn is computed, so a stream that
is later cut still leaves the conversation as Mistral would have stored it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from mistral_queue.dev.emulator.agent_engine import Persona, Turn, run_turn
from mistral_queue.dev.emulator.agent_schema import (
    AppendConversationRequest,
    CompletionArgs,
    RestartConversationRequest,
    StartConversationRequest,
)
from mistral_queue.dev.emulator.agents import AgentStore
from mistral_queue.dev.emulator.conversation_stream import turn_events
from mistral_queue.dev.emulator.conversations import Conversation
from mistral_queue.dev.emulator.entries import accept_inputs
from mistral_queue.dev.emulator.errors import ApiError
from mistral_queue.dev.emulator.ids import iso_now, new_id
from mistral_queue.dev.emulator.middleware import wants_stream_error
from mistral_queue.dev.emulator.state import EmulatorState, StateDep
from mistral_queue.dev.emulator.validation import check_chat_model
from mistral_queue.dev.emulator.wire import event_stream, json_response

router = APIRouter(prefix="/v1/conversations")


@router.post("")
async def start(body: StartConversationRequest, request: Request, state: StateDep) -> Response:
    """Start a conversation with an agent or a model and answer its first turn."""
    conversation = _new_conversation(body, state)
    inputs = accept_inputs(body.inputs)
    turn = _turn(conversation, inputs, state, body.handoff_execution, body.completion_args)
    conversation.entries = inputs + turn.outputs
    if body.store is not False:
        state.conversations.save(conversation)
    return _answer(conversation.id, turn, body.stream, request, state)


@router.get("")
async def list_conversations(state: StateDep, page: int = 0, page_size: int = 100) -> Response:
    """Conversation objects newest first (a bare JSON array)."""
    return json_response(state.conversations.page(page, page_size))


@router.get("/{conversation_id}")
async def get_conversation(conversation_id: str, state: StateDep) -> Response:
    """The conversation object: agent or model settings, no entries."""
    return json_response(state.conversations.get(conversation_id).summary())


@router.delete("/{conversation_id}", status_code=204)
async def delete_conversation(conversation_id: str, state: StateDep) -> Response:
    """Delete a conversation (204, no body)."""
    state.conversations.delete(conversation_id)
    return Response(status_code=204)


@router.post("/{conversation_id}")
async def append(
    conversation_id: str, body: AppendConversationRequest, request: Request, state: StateDep
) -> Response:
    """Append inputs (user messages or function results) and answer them."""
    conversation = state.conversations.get(conversation_id)
    inputs = accept_inputs(body.inputs)
    if not inputs:
        raise ApiError(400, "inputs must not be empty", param="inputs")
    turn = _turn(
        conversation,
        conversation.entries + inputs,
        state,
        body.handoff_execution,
        body.completion_args,
    )
    if body.store is not False:
        conversation.entries = conversation.entries + inputs + turn.outputs
        state.conversations.save(conversation)
    return _answer(conversation.id, turn, body.stream, request, state)


@router.get("/{conversation_id}/history")
async def history(conversation_id: str, state: StateDep) -> Response:
    """Every entry in append order."""
    return json_response(state.conversations.get(conversation_id).history())


@router.get("/{conversation_id}/messages")
async def messages(conversation_id: str, state: StateDep) -> Response:
    """The message entries only."""
    return json_response(state.conversations.get(conversation_id).messages())


@router.post("/{conversation_id}/restart")
async def restart(
    conversation_id: str, body: RestartConversationRequest, request: Request, state: StateDep
) -> Response:
    """Branch into a new conversation keeping the entries up to ``from_entry_id``."""
    source = state.conversations.get(conversation_id)
    index = source.index_of(body.from_entry_id)
    if index is None:
        raise ApiError(400, f"Entry {body.from_entry_id} not found", param="from_entry_id")
    branch = replace(
        source,
        id=new_id("conv"),
        created_at=iso_now(),
        entries=source.entries[: index + 1],
        agent_version=_version(body.agent_version, source.agent_version),
        metadata=body.metadata if body.metadata is not None else source.metadata,
    )
    inputs = accept_inputs(body.inputs)
    turn = _turn(
        branch, branch.entries + inputs, state, body.handoff_execution, body.completion_args
    )
    branch.entries = branch.entries + inputs + turn.outputs
    if body.store is not False:
        state.conversations.save(branch)
    return _answer(branch.id, turn, body.stream, request, state)


def persona_of(conversation: Conversation, agents: AgentStore) -> Persona:
    """Who answers ``conversation``: its agent at its version, or its model settings."""
    if conversation.agent_id is not None:
        return Persona.of_agent(agents.get(conversation.agent_id, conversation.agent_version))
    return Persona(
        model=conversation.model or "",
        agent=None,
        instructions=conversation.instructions,
        tools=conversation.tools,
        completion_args=conversation.completion_args,
    )


def _new_conversation(body: StartConversationRequest, state: EmulatorState) -> Conversation:
    if (body.agent_id is None) == (body.model is None):
        raise ApiError(400, "Exactly one of agent_id or model must be given", param="agent_id")
    settings = body.model_dump(
        mode="json", include={"guardrails", "name", "description", "metadata"}
    )
    if body.agent_id is not None:
        agent = state.agents.get(body.agent_id, body.agent_version)
        return Conversation(
            agent_id=agent["id"], agent_version=agent["version"], model=None, **settings
        )
    assert body.model is not None
    check_chat_model(state.config, body.model)
    return Conversation(
        agent_id=None,
        agent_version=None,
        model=body.model,
        instructions=body.instructions,
        tools=[t.model_dump(mode="json", exclude_none=True) for t in body.tools or []],
        completion_args=(
            body.completion_args.model_dump(exclude_none=True) if body.completion_args else {}
        ),
        **settings,
    )


def _turn(
    conversation: Conversation,
    entries: list[dict[str, Any]],
    state: EmulatorState,
    handoff_execution: str | None,
    completion_args: CompletionArgs | None,
) -> Turn:
    persona = persona_of(conversation, state.agents)
    args = completion_args.model_dump(exclude_none=True) if completion_args else None
    return run_turn(
        persona,
        entries,
        state.agents,
        handoff_execution=handoff_execution or "server",
        completion_args=args,
    )


def _version(requested: int | str | None, current: int | None) -> int | None:
    if requested is None:
        return current
    return int(requested) if str(requested).isdigit() else current


def _answer(
    conversation_id: str, turn: Turn, stream: bool, request: Request, state: EmulatorState
) -> Response:
    if stream:
        events = turn_events(conversation_id, turn, fail=wants_stream_error(request.scope))
        delay = state.faults.faults.stream_chunk_delay_ms
        return event_stream(events, delay_ms=delay, cost=turn.cost)
    body = {
        "object": "conversation.response",
        "conversation_id": conversation_id,
        "outputs": turn.outputs,
        "usage": turn.usage,
        "guardrails": None,
    }
    return json_response(body, cost=turn.cost)
