"""Upstream ids stay in their lane: hostile ids are 422 at intake, and a tenant may continue
only its own conversations and use only its own files (issue 13)."""

from __future__ import annotations

from typing import Any

import pytest

from mistral_queue.dev.stack import LocalStack
from tests.helpers import Api, api_error, extra_api
from tests.integration.agent_support import MODEL, agent_job, create_agent
from tests.integration.batch_support import batch_body, requests_of, upload_owned
from tests.unit.test_upstream_ids import HOSTILE

pytestmark = pytest.mark.timeout(120)

#: Hostile ids that JSON can carry (all of them) minus the empty one, which min_length catches.
SPELLINGS = [value for value in HOSTILE if value]


def _jobs(value: str) -> list[tuple[dict[str, Any], str]]:
    return [
        (agent_job({"inputs": "hi", "conversation_id": value}), "request.conversation_id"),
        (agent_job({"inputs": "hi", "agent_id": value}), "request.agent_id"),
        (agent_job({"agent_id": value, "messages": [{"role": "user", "content": "x"}]}),
         "request.agent_id"),
        (batch_body(input_file=value), "request.input_file"),
        ({"type": "batch", "request": {"endpoint": "/v1/agents/completions", "agent_id": value,
          "requests": requests_of(1)}}, "request.agent_id"),
    ]  # fmt: skip


@pytest.mark.parametrize("value", SPELLINGS)
def test_every_path_escape_spelling_is_422_naming_the_field(
    stack: LocalStack, api: Api, value: str
) -> None:
    for body, field in _jobs(value):
        error = api_error(api.post(body), 422)
        assert field in [d["field"] for d in error["details"]], (value, error)


def test_a_tenant_continues_only_its_own_conversations(
    stack: LocalStack, api: Api, other_tenant: Api
) -> None:
    # Given acme started a conversation through a job
    job = api.submit(agent_job({"model": MODEL, "inputs": "Remember: the code is 42."}))
    final = api.wait_final(job["id"], timeout=60, callback=False)
    assert final["status"] == "succeeded", final["error"]
    conversation = final["result"]["conversation_id"]
    # Then globex cannot continue it (404 as for one that does not exist)...
    error = api_error(
        other_tenant.post(
            agent_job({"inputs": "What is the code?", "conversation_id": conversation})
        ),
        404,
    )
    assert error["details"][0]["field"] == "request.conversation_id"
    unknown = api_error(
        other_tenant.post(agent_job({"inputs": "x", "conversation_id": "conv_nonexistent"})), 404
    )
    assert unknown["message"] == error["message"]
    # ...while acme can
    again = api.submit(agent_job({"inputs": "What is the code?", "conversation_id": conversation}))
    done = api.wait_final(again["id"], timeout=60, callback=False)
    assert done["status"] == "succeeded", done["error"]
    assert done["result"]["conversation_id"] == conversation


def test_a_tenant_uses_only_its_own_files(stack: LocalStack, other_tenant: Api) -> None:
    file_id = upload_owned(stack, requests_of(2), tenant="acme")
    error = api_error(other_tenant.post(batch_body(input_file=file_id)), 404)
    assert error["details"][0]["field"] == "request.input_file"


def test_allowed_agents_restrict_a_tenant(stack: LocalStack) -> None:
    agent = create_agent(stack, "lane-agent", model=MODEL)
    env = {"MQ_TENANT_ALLOWED_AGENTS": '{"acme": ["ag_allowed_*"]}'}
    with extra_api({**stack.env, **env}, "allowed-agents") as restricted:
        error = api_error(restricted.post(agent_job({"agent_id": agent, "inputs": "hi"})), 403)
        assert error["details"][0]["field"] == "request.agent_id"
        batch = {"type": "batch", "request": {"endpoint": "/v1/agents/completions",
                 "agent_id": agent, "requests": requests_of(1)}}  # fmt: skip
        assert api_error(restricted.post(batch), 403)["type"] == "forbidden"
    with extra_api({**stack.env, **env}, "allowed-globex", key="key-globex") as unrestricted:
        response = unrestricted.post(agent_job({"agent_id": agent, "inputs": "hi"}))
        assert response.status_code == 202, response.text
