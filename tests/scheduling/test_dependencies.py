"""``depends_on`` and ``$from`` references: waiting until dependencies succeed, their results
fed into the request; a failed or cancelled dependency fails its dependents."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
import redis

from tests.helpers import Api, api_error, chat_body, events, raw_receiver, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

CONTENT = "/result/choices/0/message/content"


def _ref(job_id: str, pointer: str = CONTENT) -> dict[str, str]:
    return {"$from": job_id, "pointer": pointer}


def _reduce(parts: list[str], callback: str | None = None, **extra: Any) -> dict[str, Any]:
    messages = [{"role": "user", "content": _ref(p)} for p in parts]
    messages.append({"role": "user", "content": "Combine the summaries above."})
    body = {**chat_body("reduce", callback), "depends_on": parts, **extra}
    body["request"]["messages"] = messages
    return body


def _first_event_ms(client: redis.Redis, job_id: str, kind: str) -> int:
    return next(int(e["id"].split("-")[0]) for e in events(client, job_id) if e["type"] == kind)


def test_map_then_reduce(api: Api, stack_redis: redis.Redis) -> None:
    # Given three map jobs and a reduce job fed by their answers
    maps = [api.submit(chat_body(f"summarise document {i}"))["id"] for i in range(3)]
    reduce = api.submit(_reduce(maps))
    # Then the reduce job waits, holding its references as sent
    assert reduce["status"] == "waiting"
    assert reduce["depends_on"] == maps
    assert reduce["request"]["messages"][0]["content"] == _ref(maps[0])
    # When the maps succeed, it runs with their answers in place of the references
    final = api.wait_final(reduce["id"], callback=False)
    assert final["status"] == "succeeded"
    answers = [api.job(m)["result"]["choices"][0]["message"]["content"] for m in maps]
    assert [m["content"] for m in final["request"]["messages"][:3]] == answers
    # And it was queued only after every map had succeeded
    queued = _first_event_ms(stack_redis, reduce["id"], "job.queued")
    assert queued >= max(_first_event_ms(stack_redis, m, "job.succeeded") for m in maps)
    assert [e["type"] for e in events(stack_redis, reduce["id"])][0] == "job.waiting"


def test_a_failed_dependency_fails_its_dependents_with_callbacks(api: Api) -> None:
    with raw_receiver() as receiver:
        # Given a job that fails upstream, a child of it, and a grandchild
        bad = api.submit(chat_body(f"fail {uuid.uuid4().hex} [[fault:400]]"))["id"]
        child = api.submit({**chat_body("child", receiver.url), "depends_on": [bad]})["id"]
        grandchild = api.submit({**chat_body("grandchild"), "depends_on": [child]})["id"]
        # Then both fail with dependency_failed, naming the dependency, and the child's
        # job.failed callback is sent
        for job_id, dep in ((child, bad), (grandchild, child)):
            final = api.wait_final(job_id, callback=False)
            assert final["status"] == "failed"
            assert final["error"]["type"] == "dependency_failed"
            assert final["error"]["dependency"] == dep
            assert final["attempts"] == 0
        hooks = wait_for(lambda: receiver.for_job(child), 20, "the child's callback")
    payload = json.loads(hooks[0].body)
    assert (payload["type"], payload["data"]["error"]["type"]) == (
        "job.failed",
        "dependency_failed",
    )


def test_a_cancelled_dependency_fails_its_dependent(api: Api) -> None:
    dep = api.submit({**chat_body("not yet"), "delay_seconds": 60})["id"]
    child = api.submit({**chat_body("child"), "depends_on": [dep]})["id"]
    assert api.job(child)["status"] == "waiting"
    httpx.post(f"{api.url}/v1/jobs/{dep}/cancel", headers=api.headers())
    final = api.wait_final(child, callback=False)
    assert (final["status"], final["error"]["type"]) == ("failed", "dependency_failed")


def test_a_waiting_job_can_be_cancelled(api: Api) -> None:
    dep = api.submit({**chat_body("later"), "delay_seconds": 60})["id"]
    child = api.submit({**chat_body("child"), "depends_on": [dep]})["id"]
    response = httpx.post(f"{api.url}/v1/jobs/{child}/cancel", headers=api.headers())
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"


def test_a_pointer_into_nothing_fails_the_job(api: Api) -> None:
    dep = api.submit(chat_body("fine"))["id"]
    body = _reduce([dep])
    body["request"]["messages"][0]["content"] = _ref(dep, "/result/nothing/here")
    final = api.wait_final(api.submit(body)["id"], callback=False)
    assert final["error"]["type"] == "dependency_failed"
    assert "/result/nothing/here" in final["error"]["message"]


def test_bad_dependencies_are_422(api: Api, other_tenant: Api) -> None:
    mine = api.submit(chat_body("mine"))["id"]
    theirs = other_tenant.submit(chat_body("theirs"))["id"]
    unknown = "job_" + "0" * 26
    cases: list[tuple[dict[str, Any], str]] = [
        ({**chat_body("x"), "depends_on": [unknown]}, "depends_on.0"),
        ({**chat_body("x"), "depends_on": [mine, theirs]}, "depends_on.1"),
        ({**chat_body("x"), "depends_on": ["not-a-job"]}, "depends_on.0"),
        ({**chat_body("x"), "depends_on": [mine] * 101}, "depends_on"),
        ({**chat_body("x"), "depends_on": [mine], "delay_seconds": 5}, "depends_on"),
        (_reduce([mine], depends_on=[mine]) | {"depends_on": []}, "depends_on"),
    ]
    stray = _reduce([mine])
    stray["request"]["messages"][0]["content"] = _ref(theirs)
    cases.append((stray, "request.messages.0.content"))
    bad_pointer = _reduce([mine])
    bad_pointer["request"]["messages"][0]["content"] = _ref(mine, "no-slash")
    cases.append((bad_pointer, "request.messages.0.content"))
    no_deps = chat_body("x")
    no_deps["request"]["messages"][0]["content"] = _ref(mine)
    cases.append((no_deps, "request.messages.0.content"))
    for body, field in cases:
        error = api_error(api.post(body), 422)
        # (a reference without depends_on is no reference: pydantic names the union branch)
        assert error["details"][0]["field"].startswith(field), (body, error)
