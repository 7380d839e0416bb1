"""Pure rules of issue 17: due times, schedule ticks and missed ticks, reference resolution."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from mistral_queue.jobs import delayed
from mistral_queue.jobs import dependencies as deps
from mistral_queue.jobs import schedule as sched
from mistral_queue.jobs.model import JobStatus


def test_due_at() -> None:
    assert delayed.due_at(None, None, now=100.0, max_delay=50) is None
    assert delayed.due_at(None, 10, now=100.0, max_delay=50) == 110.0
    assert delayed.due_at(None, 0, now=100.0, max_delay=50) is None
    past = datetime(2000, 1, 1, tzinfo=UTC)
    assert delayed.due_at(past, None, now=2.0e9, max_delay=50) is None
    with pytest.raises(delayed.StartTimeError) as raised:
        delayed.due_at(None, 51, now=100.0, max_delay=50)
    assert raised.value.field == "delay_seconds"


def test_cron_ticks_keep_local_time_across_daylight_saving() -> None:
    spec = {"cron": "30 9 * * *", "timezone": "Europe/Paris"}
    # 2026-10-24 is the last day of summer time in Paris, 2026-10-25 the first of winter time
    before = datetime(2026, 10, 24, 12, tzinfo=UTC).timestamp()
    first = sched.next_tick(spec, before)
    second = sched.next_tick(spec, first)
    paris = ZoneInfo("Europe/Paris")
    assert [datetime.fromtimestamp(t, paris).strftime("%d %H:%M") for t in (first, second)] == [
        "25 09:30",
        "26 09:30",
    ]
    assert second - first == 24 * 3600


def test_every_seconds_keeps_its_phase_and_counts_missed_ticks() -> None:
    spec = {"every_seconds": "10.0"}
    assert sched.next_tick(spec, 100.0) == 110.0
    assert sched.next_tick(spec, 137.0, last=100.0) == 140.0
    assert sched.missed(spec, 100.0, 105.0) == 0
    assert sched.missed(spec, 100.0, 130.0) == 3
    assert sched.missed({"cron": "* * * * *", "timezone": "UTC"}, 0.0, 600.0) == 10


@pytest.mark.parametrize(("expr", "field"), [("* * *", "cron"), ("99 * * * *", "cron")])
def test_bad_cron(expr: str, field: str) -> None:
    with pytest.raises(sched.ScheduleError) as raised:
        sched.check_cron(expr, "UTC")
    assert raised.value.field == field


def test_references_resolve_against_job_views() -> None:
    request = {
        "messages": [
            {"role": "user", "content": {"$from": "job_a", "pointer": "/result/text"}},
            {
                "role": "user",
                "content": [{"type": "text", "text": {"$from": "job_b", "pointer": "/id"}}],
            },
        ]
    }
    views: dict[str, dict[str, Any]] = {
        "job_a": {"result": {"text": "alpha"}},
        "job_b": {"id": "job_b"},
    }
    resolved = deps.resolve(request, views)
    assert resolved["messages"][0]["content"] == "alpha"
    assert resolved["messages"][1]["content"][0]["text"] == "job_b"
    assert [f for f, _ in deps.refs(request)] == [
        "request.messages.0.content",
        "request.messages.1.content.0.text",
    ]
    assert deps.placeholders(request)["messages"][0]["content"] == ""
    with pytest.raises(deps.ReferenceError):
        deps.resolve(request, {"job_a": {}, "job_b": {}})


def test_reference_checks() -> None:
    good = {"x": {"$from": "job_a", "pointer": "/result"}}
    deps.check_refs(good, ["job_a"])
    for bad, deps_on in (
        (good, ["job_b"]),
        ({"x": {"$from": "job_a", "pointer": "result"}}, ["job_a"]),
        ({"x": {"$from": "job_a"}}, ["job_a"]),
        ({"x": {"$from": "job_a", "pointer": "/", "extra": 1}}, ["job_a"]),
    ):
        with pytest.raises(deps.ReferenceError) as raised:
            deps.check_refs(bad, deps_on)
        assert raised.value.field == "request.x"


def test_blocked_dependencies() -> None:
    ok, failed = JobStatus.SUCCEEDED, JobStatus.FAILED
    assert deps.blocked({"a": ok, "b": JobStatus.RUNNING}) is None
    assert deps.blocked({"a": ok, "b": failed}) == deps.Blocked("b", failed)
    assert deps.blocked({"a": None}) == deps.Blocked("a", None)
    assert deps.blocked({"a": JobStatus.CANCELLED}) == deps.Blocked("a", JobStatus.CANCELLED)
