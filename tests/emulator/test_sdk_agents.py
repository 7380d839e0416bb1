"""The official SDK's beta.agents, beta.conversations and agents.* against the emulator."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from mistralai.client import Mistral, errors, models

from mistral_queue.dev.emulator.server import RunningEmulator
from tests.emulator.helpers import API_KEY

MODEL = "mistral-small-latest"
WEATHER = models.FunctionTool(
    function=models.Function(
        name="get_weather",
        parameters={
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    )
)


@pytest.fixture
def sdk(emulator: RunningEmulator) -> Iterator[Mistral]:
    with Mistral(api_key=API_KEY, server_url=emulator.base_url, timeout_ms=10_000) as client:
        yield client


def test_agents_create_get_update_list(sdk: Mistral) -> None:
    tools: list[models.CreateAgentRequestTool] = [WEATHER, models.WebSearchTool()]
    agent = sdk.beta.agents.create(model=MODEL, name="weather", tools=tools, description="v0")
    updated = sdk.beta.agents.update(agent_id=agent.id, description="v1")
    old = sdk.beta.agents.get(agent_id=agent.id, agent_version=0)
    versions = sdk.beta.agents.list_versions(agent_id=agent.id)
    with pytest.warns(DeprecationWarning):
        listed = sdk.beta.agents.list()

    assert agent.version == 0
    assert isinstance(agent.tools, list) and isinstance(agent.tools[0], models.FunctionTool)
    assert (updated.version, updated.versions) == (1, [0, 1])
    assert old.description == "v0"
    assert [v.version for v in versions] == [1, 0]
    assert [a.id for a in listed] == [agent.id]


def test_conversation_function_call_loop(sdk: Mistral) -> None:
    agent = sdk.beta.agents.create(model=MODEL, name="weather", tools=[WEATHER])

    first = sdk.beta.conversations.start(agent_id=agent.id, inputs="weather city=Oslo")
    call = first.outputs[0]
    assert isinstance(call, models.FunctionCallEntry)
    assert isinstance(call.arguments, str)
    assert json.loads(call.arguments) == {"city": "Oslo"}

    result: list[models.InputEntries] = [
        models.FunctionResultEntry(tool_call_id=call.tool_call_id, result='{"temp": 3}')
    ]
    second = sdk.beta.conversations.append(conversation_id=first.conversation_id, inputs=result)
    answer = second.outputs[0]

    assert isinstance(answer, models.MessageOutputEntry)
    assert answer.content == 'The get_weather tool returned: {"temp": 3}'
    conversation = sdk.beta.conversations.get(conversation_id=first.conversation_id)
    assert isinstance(conversation, models.AgentConversation)
    history = sdk.beta.conversations.get_history(conversation_id=first.conversation_id)
    assert [e.type for e in history.entries] == [
        "message.input",
        "function.call",
        "function.result",
        "message.output",
    ]


def test_conversation_restart_and_messages(sdk: Mistral) -> None:
    first = sdk.beta.conversations.start(model=MODEL, inputs="one")
    history = sdk.beta.conversations.get_history(conversation_id=first.conversation_id)
    entry_id = history.entries[0].id
    assert entry_id is not None

    branch = sdk.beta.conversations.restart(
        conversation_id=first.conversation_id, from_entry_id=entry_id, inputs="two"
    )
    messages = sdk.beta.conversations.get_messages(conversation_id=branch.conversation_id)

    assert branch.conversation_id != first.conversation_id
    assert [m.content for m in messages.messages] == ["one", "two", "Echo: two"]
    model_conversation = sdk.beta.conversations.get(conversation_id=first.conversation_id)
    assert isinstance(model_conversation, models.ModelConversation)


def test_handoff_and_connector_entries_parse(sdk: Mistral) -> None:
    helper = sdk.beta.agents.create(model=MODEL, name="helper")
    main = sdk.beta.agents.create(
        model=MODEL,
        name="main",
        tools=[models.CodeInterpreterTool()],
        handoffs=[helper.id],
    )

    ran = sdk.beta.conversations.start(agent_id=main.id, inputs="use code_interpreter")
    handed = sdk.beta.conversations.append(conversation_id=ran.conversation_id, inputs="helper?")

    assert isinstance(ran.outputs[0], models.ToolExecutionEntry)
    assert ran.outputs[0].name == "code_interpreter"
    assert isinstance(handed.outputs[0], models.AgentHandoffEntry)
    assert handed.outputs[0].next_agent_name == "helper"


def test_conversation_streams_parse(sdk: Mistral) -> None:
    with sdk.beta.conversations.start_stream(model=MODEL, inputs="Hello, world!") as stream:
        received = list(stream)
    text = "".join(
        e.data.content
        for e in received
        if isinstance(e.data, models.MessageOutputEvent) and isinstance(e.data.content, str)
    )
    started = received[0].data
    assert isinstance(started, models.ResponseStartedEvent)
    conversation_id = started.conversation_id

    with sdk.beta.conversations.append_stream(
        conversation_id=conversation_id, inputs="again"
    ) as stream:
        appended = [e.event for e in stream]

    assert text == "Echo: Hello, world!"
    assert isinstance(received[-1].data, models.ResponseDoneEvent)
    assert appended[0] == "conversation.response.started"
    assert appended[-1] == "conversation.response.done"


def test_function_call_stream_rebuilds_arguments(sdk: Mistral) -> None:
    with sdk.beta.conversations.start_stream(
        model=MODEL, inputs="city=Lyon", tools=[WEATHER]
    ) as stream:
        deltas = [e.data for e in stream if isinstance(e.data, models.FunctionCallEvent)]

    assert json.loads("".join(d.arguments for d in deltas)) == {"city": "Lyon"}


def test_stream_error_event_parses(sdk: Mistral) -> None:
    with sdk.beta.conversations.start_stream(
        model=MODEL, inputs="x", http_headers={"x-emulator-fault": "stream_error"}
    ) as stream:
        last = list(stream)[-1].data

    assert isinstance(last, models.ResponseErrorEvent)
    assert last.code == 500


def test_agents_complete_and_stream(sdk: Mistral) -> None:
    agent = sdk.beta.agents.create(model=MODEL, name="plain", instructions="Be kind.")
    user = [models.UserMessage(content="hi there")]

    response = sdk.agents.complete(agent_id=agent.id, messages=user)
    with sdk.agents.stream(agent_id=agent.id, messages=user) as stream:
        text = "".join(
            e.data.choices[0].delta.content
            for e in stream
            if isinstance(e.data.choices[0].delta.content, str)
        )

    assert response.choices[0].message is not None
    assert response.choices[0].message.content == "Echo: hi there"
    assert text == "Echo: hi there"


def test_unknown_ids_raise_sdk_errors(sdk: Mistral) -> None:
    with pytest.raises(errors.SDKError) as agent_error:
        sdk.beta.agents.get(agent_id="ag_missing")
    with pytest.raises(errors.SDKError) as conversation_error:
        sdk.beta.conversations.append(conversation_id="conv_missing", inputs="x")

    assert agent_error.value.status_code == 404
    assert conversation_error.value.status_code == 404
