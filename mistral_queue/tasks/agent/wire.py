"""What an agent job sends to Mistral at each step and how it reads the answers.

Two wire forms (mistral-api.md §1-§2): an agents completion (``POST /v1/agents/completions``,
chat messages, tool calls in ``choices[0].message.tool_calls``, answered by ``tool`` messages
sent with the whole transcript) and a conversation (``POST /v1/conversations`` to start,
``POST /v1/conversations/{id}`` to append; ``function.call`` output entries answered by
``function.result`` input entries). Our extensions of the job request (``max_steps``, a
tool's ``url``) never reach Mistral.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from mistral_queue.jobs.agent import AgentProgress, Mode, ToolCall, ToolResult
from mistral_queue.mistral.ids import id_path, is_upstream_id
from mistral_queue.tasks.agent.errors import InvalidAgentResponse

AGENTS_COMPLETIONS = "/v1/agents/completions"
CONVERSATIONS = "/v1/conversations"

#: Upstream calls an agent job may make when its request does not say (``max_steps``).
DEFAULT_MAX_STEPS = 8

#: Fields of an append body besides ``inputs`` that the job's request may set
#: (mistral-api.md §1 "append").
_APPEND_FIELDS = ("store", "handoff_execution", "completion_args")


@dataclass(frozen=True)
class Call:
    """One upstream call: where, what, and the inputs it adds (recorded on the step)."""

    path: str
    body: dict[str, Any]
    inputs: list[Any]


@dataclass(frozen=True)
class Reply:
    """What one upstream answer says."""

    outputs: list[Any]
    usage: dict[str, Any] | None
    tool_calls: list[ToolCall]
    conversation_id: str | None


class Wire(Protocol):
    """One of the two wire forms."""

    def first(self, request: dict[str, Any]) -> Call:
        """The call of step 1."""
        ...

    def next(self, request: dict[str, Any], progress: AgentProgress) -> Call:
        """The call that answers the last step's tool calls with the gathered results."""
        ...

    def read(self, answer: dict[str, Any]) -> Reply:
        """Read a 2xx answer.

        Raises:
            InvalidAgentResponse: it lacks what the next step needs.
        """
        ...


def mode_of(request: dict[str, Any]) -> Mode:
    """``completion`` for a ``messages`` body, else ``conversation``."""
    return "completion" if "messages" in request else "conversation"


def wire_for(mode: Mode) -> Wire:
    """The wire form of ``mode``."""
    return CompletionWire() if mode == "completion" else ConversationWire()


def max_steps(request: dict[str, Any]) -> int:
    """The job's step budget (``max_steps``, default 8)."""
    return int(request.get("max_steps") or DEFAULT_MAX_STEPS)


def tool_urls(request: dict[str, Any]) -> dict[str, str]:
    """Function name → URL for the request's function tools that carry a ``url``."""
    urls = {}
    for tool in request.get("tools") or []:
        function = tool.get("function") or {}
        if tool.get("url") and function.get("name"):
            urls[str(function["name"])] = str(tool["url"])
    return urls


def _upstream_body(request: dict[str, Any]) -> dict[str, Any]:
    """The request without our extensions."""
    body = {k: v for k, v in request.items() if k != "max_steps"}
    if "tools" in body:
        body["tools"] = [{k: v for k, v in t.items() if k != "url"} for t in body["tools"]]
    body["stream"] = bool(request.get("stream"))
    return body


def _list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidAgentResponse(f"the answer has no {what} list")
    return value


class ConversationWire:
    """Conversations: start (or continue ``conversation_id``), then append results."""

    def first(self, request: dict[str, Any]) -> Call:
        body = _upstream_body(request)
        inputs = request["inputs"]
        entries = (
            [{"type": "message.input", "role": "user", "content": inputs}]
            if isinstance(inputs, str)
            else inputs
        )
        conversation_id = body.pop("conversation_id", None)
        if conversation_id is None:
            return Call(CONVERSATIONS, body, entries)
        # An append takes no agent, model or tools: the conversation has them already.
        kept = ("inputs", "stream", "tool_confirmations", *_APPEND_FIELDS)
        append = {k: body[k] for k in kept if k in body}
        return Call(id_path(CONVERSATIONS, conversation_id), append, entries)

    def next(self, request: dict[str, Any], progress: AgentProgress) -> Call:
        if not progress.conversation_id:
            raise InvalidAgentResponse("no conversation_id to append the tool results to")
        inputs = [_function_result(r) for r in progress.ordered_results()]
        body: dict[str, Any] = {"inputs": inputs, "stream": bool(request.get("stream"))}
        body |= {k: request[k] for k in _APPEND_FIELDS if k in request}
        return Call(id_path(CONVERSATIONS, progress.conversation_id), body, inputs)

    def read(self, answer: dict[str, Any]) -> Reply:
        outputs = _list(answer.get("outputs"), "outputs")
        conversation_id = answer.get("conversation_id")
        if not isinstance(conversation_id, str) or not conversation_id:
            raise InvalidAgentResponse("the answer has no conversation_id")
        if not is_upstream_id(conversation_id):
            raise InvalidAgentResponse("the answer's conversation_id is not a Mistral id")
        calls = [
            _call(entry.get("tool_call_id"), entry.get("name"), entry.get("arguments"))
            for entry in outputs
            if isinstance(entry, dict) and entry.get("type") == "function.call"
        ]
        return Reply(outputs, answer.get("usage"), calls, conversation_id)


def _call(tool_call_id: Any, name: Any, arguments: Any) -> ToolCall:
    if not isinstance(tool_call_id, str) or not isinstance(name, str):
        raise InvalidAgentResponse("a function call has no string tool_call_id and name")
    return ToolCall(tool_call_id=tool_call_id, name=name, arguments=arguments)


def _function_result(result: ToolResult) -> dict[str, Any]:
    # mistral-api.md §2 "Returning a function result".
    return {
        "object": "entry",
        "type": "function.result",
        "tool_call_id": result.tool_call_id,
        "result": result.result,
    }


class CompletionWire:
    """Agents completions: the whole transcript each time, ``tool`` messages as results."""

    def first(self, request: dict[str, Any]) -> Call:
        return Call(AGENTS_COMPLETIONS, _upstream_body(request), list(request["messages"]))

    def next(self, request: dict[str, Any], progress: AgentProgress) -> Call:
        names = {c.tool_call_id: c.name for c in progress.open_calls}
        inputs = [
            {
                "role": "tool",
                "tool_call_id": r.tool_call_id,
                "name": names[r.tool_call_id],
                "content": r.result,
            }
            for r in progress.ordered_results()
        ]
        transcript = [item for step in progress.steps for item in (*step.inputs, *step.outputs)]
        body = {**_upstream_body(request), "messages": [*transcript, *inputs]}
        return Call(AGENTS_COMPLETIONS, body, inputs)

    def read(self, answer: dict[str, Any]) -> Reply:
        choices = _list(answer.get("choices"), "choices")
        if not choices or not isinstance(choices[0], dict):
            raise InvalidAgentResponse("the answer has no choice")
        # Only the first choice continues the run: tool results answer one assistant turn.
        message = choices[0].get("message")
        if not isinstance(message, dict):
            raise InvalidAgentResponse("the first choice has no message")
        calls = []
        for call in message.get("tool_calls") or []:
            function = call.get("function") if isinstance(call, dict) else None
            if not isinstance(function, dict):
                raise InvalidAgentResponse("a tool call has no function")
            calls.append(_call(call.get("id"), function.get("name"), function.get("arguments")))
        return Reply([message], answer.get("usage"), calls, None)
