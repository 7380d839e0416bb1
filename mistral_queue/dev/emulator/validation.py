"""Semantic checks Mistral answers with 400 (mistral-api.md §2 "Next turn", §3).

Shape errors are pydantic's (422); these are the rules a valid shape can still break: the
role order, the tool call ids and the number of tool results.
"""

from __future__ import annotations

import re
from itertools import pairwise

from mistral_queue.dev.emulator.catalog import serves_chat
from mistral_queue.dev.emulator.chat_schema import AssistantMessage, Message
from mistral_queue.dev.emulator.config import EmulatorConfig
from mistral_queue.dev.emulator.errors import (
    ApiError,
    invalid_function_call,
    invalid_model,
    message_order,
)

_TOOL_CALL_ID = re.compile(r"^[a-zA-Z0-9]{9}$")


def check_chat_model(config: EmulatorConfig, model: str) -> None:
    """Accept a model the emulator serves for chat.

    Raises:
        ApiError: 400 ``invalid_model`` / ``"1500"`` for an unknown or embedding-only model.
    """
    if model not in config.models or not serves_chat(model):
        raise invalid_model(model)


def check_messages(messages: list[Message]) -> None:
    """Check the order of roles and the tool-call protocol.

    Raises:
        ApiError: 400 with ``invalid_request_message_order`` / ``"3230"`` or
            ``invalid_function_call`` / ``"3280"``.
    """
    if not messages:
        raise ApiError(400, "Messages must not be empty", param="messages")
    last = messages[-1]
    if last.role not in ("user", "tool") and not (
        isinstance(last, AssistantMessage) and last.prefix
    ):
        raise message_order(
            "Expected last role User or Tool (or Assistant with prefix True) for serving"
            f" but got {last.role}"
        )
    for before, after in pairwise(messages):
        if before.role == "tool" and after.role == "user":
            raise message_order("Unexpected role 'user' after role 'tool'")
    _check_tool_turns(messages)


def _check_tool_turns(messages: list[Message]) -> None:
    expected = 0
    for message in messages:
        if message.role == "tool":
            expected -= 1
            if expected < 0:
                raise message_order("Not the same number of function calls and responses")
            continue
        if expected > 0:
            raise message_order("Not the same number of function calls and responses")
        if isinstance(message, AssistantMessage) and message.tool_calls:
            for call in message.tool_calls:
                if not _TOOL_CALL_ID.match(call.id):
                    raise invalid_function_call(
                        f"Tool call id was {call.id} but must be a-z, A-Z, 0-9, with a length of 9."
                    )
            expected = len(message.tool_calls)
    if expected > 0:
        raise message_order("Not the same number of function calls and responses")
