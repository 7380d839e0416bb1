"""Fair share and priorities end to end: two tenants behind one deployment-wide limit."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import pytest

from mistral_queue.dev.stack import LocalStack, launch
from tests.conftest import TEST_ENV
from tests.helpers import Api, chat_body


@pytest.fixture(scope="module")
def shared() -> Iterator[LocalStack]:
    """At most 2 jobs run at once in the deployment (of 12 worker threads)."""
    env = {**TEST_ENV, "MQ_MAX_RUNNING_JOBS": "2"}
    local = launch(env=env, workers=1, concurrency=12, emulator_args=["--latency-ms", "400"])
    yield local
    local.stop()


def _stamp(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _flood(api: Api, count: int, **fields: Any) -> list[dict[str, Any]]:
    with ThreadPoolExecutor(8) as pool:
        return list(
            pool.map(lambda i: api.submit({**chat_body(f"flood {i}"), **fields}), range(count))
        )


def _overlap(jobs: list[dict[str, Any]]) -> int:
    spans = [(_stamp(j["started_at"]), _stamp(j["finished_at"])) for j in jobs]
    return max(sum(1 for s, f in spans if s <= start < f) for start, _ in spans)


def test_the_light_tenant_goes_through_during_the_other_ones_flood(shared: LocalStack) -> None:
    heavy, light = Api(shared.api.url, "key-acme"), Api(shared.api.url, "key-globex")
    # Given tenant A flooded 80 jobs, 16 s of work for the 2 slots
    flood = _flood(heavy, 80)
    # When tenant B submits 4 jobs behind it
    small = [light.submit(chat_body(f"light {i}")) for i in range(4)]
    small_done = [light.wait_final(j["id"], timeout=90, callback=False) for j in small]
    flood_done = [heavy.wait_final(j["id"], timeout=180, callback=False) for j in flood]
    # Then A still had a backlog when B's jobs were accepted...
    accepted = min(_stamp(j["created_at"]) for j in small_done)
    waiting = [j for j in flood_done if _stamp(j["started_at"]) > accepted]
    assert len(waiting) >= 10
    # ...and B's jobs did not wait behind it: they alternated with A's (equal weights), so
    # only about one of A's started per job of B's, plus the 2 already on their way
    last_light = max(_stamp(j["started_at"]) for j in small_done)
    passed = [j for j in waiting if _stamp(j["started_at"]) < last_light]
    assert len(passed) <= len(small) + 2 + 2
    # And the deployment never ran more than 2 jobs at once
    assert _overlap(small_done + flood_done) <= 2
    assert all(j["status"] == "succeeded" for j in small_done + flood_done)


def test_an_urgent_job_overtakes_its_tenants_backlog(shared: LocalStack) -> None:
    api = Api(shared.api.url, "key-acme")
    backlog = _flood(api, 40)
    urgent = api.submit({**chat_body("urgent"), "priority": 9})
    assert urgent["priority"] == 9
    done = api.wait_final(urgent["id"], timeout=90, callback=False)
    backlog_done = [api.wait_final(j["id"], timeout=180, callback=False) for j in backlog]
    accepted, started = _stamp(done["created_at"]), _stamp(done["started_at"])
    # Then a backlog was still waiting when it was accepted...
    waiting = [j for j in backlog_done if _stamp(j["started_at"]) > accepted]
    assert len(waiting) >= 10
    # ...and it started ahead of all of it but the jobs already on their way (2 slots)
    passed = [j for j in waiting if _stamp(j["started_at"]) < started]
    assert len(passed) <= 2


def test_priority_is_validated(shared: LocalStack) -> None:
    api = Api(shared.api.url, "key-acme")
    for bad in (10, -1, "high"):
        response = api.post({**chat_body("x"), "priority": bad})
        assert response.status_code == 422, response.text
        assert response.json()["error"]["details"][0]["field"] == "priority"
