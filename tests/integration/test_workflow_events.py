"""Job events read with the official SDK's ``events`` client, pointed at our API."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from mistralai.client import Mistral, models

from mistral_queue.dev.stack import LocalStack
from tests.helpers import Api, chat_body

pytestmark = pytest.mark.timeout(90)


def sdk_for(stack: LocalStack, key: str) -> Mistral:
    return Mistral(api_key=key, server_url=stack.api.url, timeout_ms=30_000)


@pytest.fixture
def sdk(stack: LocalStack) -> Iterator[Mistral]:
    with sdk_for(stack, "key-acme") as client:
        yield client


def stream(sdk: Mistral, **params: Any) -> list[models.StreamEventSsePayload]:
    """Every payload of ``get_stream_events(**params)`` until the server ends the stream."""
    payloads = []
    with sdk.events.get_stream_events(**params) as events:
        for event in events:
            assert isinstance(event.data, models.StreamEventSsePayload), event
            payloads.append(event.data)
    return payloads


def all_events(sdk: Mistral, **params: Any) -> list[Any]:
    """Every event of ``get_workflow_events(**params)``, following ``next_cursor``."""
    events: list[Any] = []
    cursor: str | None = None
    while True:
        page = sdk.events.get_workflow_events(limit=1000, cursor=cursor, **params)
        events += page.events
        if not page.next_cursor:
            return events
        cursor = page.next_cursor


def kinds(payloads: list[models.StreamEventSsePayload]) -> list[str | None]:
    return [p.data.event_type for p in payloads]


@pytest.fixture(scope="module")
def finished(api: Api) -> dict[str, Any]:
    """A streamed chat job that retried once, then succeeded."""
    job = api.submit(chat_body("tell me a story [[fault:503]]", stream=True))
    final = api.wait_final(job["id"], callback=False)
    assert final["status"] == "succeeded", final["error"]
    return final


def test_stream_of_a_finished_job_ends_after_its_last_event(
    sdk: Mistral, finished: dict[str, Any]
) -> None:
    payloads = stream(sdk, workflow_exec_id=finished["id"])

    types = kinds(payloads)
    assert types[0] == "WORKFLOW_EXECUTION_STARTED"
    assert "ACTIVITY_TASK_STARTED" in types and "ACTIVITY_TASK_RETRYING" in types
    assert "CUSTOM_TASK_IN_PROGRESS" in types  # the job.delta events
    assert types[-2:] == ["ACTIVITY_TASK_COMPLETED", "WORKFLOW_EXECUTION_COMPLETED"]
    assert [p.broker_sequence for p in payloads] == list(range(len(payloads)))
    first = payloads[0]
    assert first.workflow_context.workflow_name == "chat"
    assert first.workflow_context.workflow_exec_id == finished["id"]
    assert isinstance(first.data, models.WorkflowExecutionStartedResponse)
    done = payloads[-1].data
    assert isinstance(done, models.WorkflowExecutionCompletedResponse)
    assert done.attributes.result.value == finished["result"]
    assert done.event_timestamp > 1_700_000_000 * 10**9


def test_resume_by_start_seq_and_by_last_event_id_gives_exactly_the_rest(
    sdk: Mistral, finished: dict[str, Any]
) -> None:
    whole = stream(sdk, workflow_exec_id=finished["id"])
    cut = len(whole) // 2

    by_seq = stream(sdk, workflow_exec_id=finished["id"], start_seq=cut)
    by_id = stream(sdk, root_workflow_exec_id=finished["id"],
                   last_event_id=whole[cut - 1].data.event_id)  # fmt: skip

    rest = [p.data.event_id for p in whole[cut:]]
    assert [p.data.event_id for p in by_seq] == rest
    assert [p.data.event_id for p in by_id] == rest


def test_filters_by_event_type_name_and_metadata(
    sdk: Mistral, api: Api, finished: dict[str, Any]
) -> None:
    tagged = api.submit({**chat_body("tagged"), "metadata": {"team": "red"}})
    api.wait_final(tagged["id"], callback=False)

    retrying = stream(
        sdk, workflow_exec_id=finished["id"], workflow_event_types=["ACTIVITY_TASK_RETRYING"]
    )
    wrong_name = stream(sdk, workflow_exec_id=finished["id"], workflow_name="ocr")
    red = stream(sdk, workflow_exec_id=tagged["id"], metadata_filters={"team": "red"})
    blue = stream(sdk, workflow_exec_id=tagged["id"], metadata_filters={"team": "blue"})

    assert kinds(retrying) == ["ACTIVITY_TASK_RETRYING"]
    assert wrong_name == []
    assert kinds(red)[-1] == "WORKFLOW_EXECUTION_COMPLETED"
    assert red[0].metadata == {"team": "red"}
    assert blue == []


def test_list_pages_with_cursor(sdk: Mistral, finished: dict[str, Any]) -> None:
    whole = stream(sdk, workflow_exec_id=finished["id"])
    seen: list[str] = []
    cursor: str | None = None
    while True:
        page = sdk.events.get_workflow_events(
            workflow_exec_id=finished["id"], limit=3, cursor=cursor
        )
        seen += [event.event_id for event in page.events]
        if not page.next_cursor:
            break
        cursor = page.next_cursor

    assert seen == [p.data.event_id for p in whole]
    # Tenant-wide, ids are positions in the tenant's log: the same events, other ids.
    mine = [e.event_type for e in all_events(sdk) if e.workflow_exec_id == finished["id"]]
    assert mine == kinds(whole)


def test_another_tenant_sees_none(stack: LocalStack, finished: dict[str, Any]) -> None:
    with sdk_for(stack, "key-globex") as other:
        streamed = stream(other, workflow_exec_id=finished["id"])
        listed = other.events.get_workflow_events(workflow_exec_id=finished["id"])
        everything = all_events(other)

    assert streamed == []
    assert listed.events == []
    assert finished["id"] not in {event.workflow_exec_id for event in everything}


def test_live_stream_follows_a_running_job(sdk: Mistral, api: Api) -> None:
    job = api.submit(chat_body("a slow one [[fault:latency=400]]"))

    payloads = stream(sdk, workflow_exec_id=job["id"])

    assert kinds(payloads)[0] == "WORKFLOW_EXECUTION_STARTED"
    assert kinds(payloads)[-1] == "WORKFLOW_EXECUTION_COMPLETED"


def test_tenant_wide_stream_has_only_the_tenants_jobs(
    sdk: Mistral, api: Api, other_tenant: Api
) -> None:
    theirs = other_tenant.submit(chat_body("globex's job"))
    mine = api.submit(chat_body("acme's job"))
    api.wait_final(mine["id"], callback=False)
    other_tenant.wait_final(theirs["id"], callback=False)

    seen: list[str] = []
    with sdk.events.get_stream_events() as events:
        for event in events:
            assert isinstance(event.data, models.StreamEventSsePayload)
            seen.append(event.data.workflow_context.workflow_exec_id)
            done = event.data.data.event_type == "WORKFLOW_EXECUTION_COMPLETED"
            if done and seen[-1] == mine["id"]:
                break

    assert mine["id"] in seen
    assert theirs["id"] not in seen
