"""``/v1/schedules``: each tick of a schedule creates one ordinary job; pause, resume, delete."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.helpers import Api, api_error, chat_body, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def _call(api: Api, method: str, path: str = "", body: Any = None) -> httpx.Response:
    url = f"{api.url}/v1/schedules{path}"
    return httpx.request(method, url, json=body, headers=api.headers())


def _when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_every_seconds_fires_ordinary_jobs_until_paused(api: Api, other_tenant: Api) -> None:
    # Given a schedule firing every second
    created = _call(api, "POST", body={"every_seconds": 1, "job": chat_body("tick")})
    assert created.status_code == 201, created.text
    schedule = created.json()
    assert schedule["id"].startswith("sch_")
    assert 0 < _when(schedule["next_run_at"]).timestamp() - time.time() <= 1.1
    sid = schedule["id"]
    # Then it makes jobs tagged with its id, which run like any other
    first = wait_for(lambda: _call(api, "GET", f"/{sid}").json()["last_job_id"], 10, "a firing")
    job = api.wait_final(first, callback=False)
    assert job["status"] == "succeeded"
    assert job["metadata"]["schedule_id"] == sid
    wait_for(lambda: _call(api, "GET", f"/{sid}").json()["runs"] >= 3, 10, "three firings")
    # When it is paused, it stops firing
    paused = _call(api, "PATCH", f"/{sid}", {"paused": True})
    assert paused.status_code == 200, paused.text
    assert (paused.json()["paused"], paused.json()["next_run_at"]) == (True, None)
    runs = paused.json()["runs"]
    time.sleep(2.0)
    assert _call(api, "GET", f"/{sid}").json()["runs"] == runs
    # And resumed, it fires again
    assert _call(api, "PATCH", f"/{sid}", {"paused": False}).json()["paused"] is False
    wait_for(lambda: _call(api, "GET", f"/{sid}").json()["runs"] > runs, 10, "a firing again")
    # It is listed for its tenant only, and another tenant cannot see or delete it
    assert sid in [s["id"] for s in _call(api, "GET").json()["data"]]
    assert sid not in [s["id"] for s in _call(other_tenant, "GET").json()["data"]]
    api_error(_call(other_tenant, "GET", f"/{sid}"), 404)
    api_error(_call(other_tenant, "DELETE", f"/{sid}"), 404)
    # When it is deleted, it is gone and fires no more
    assert _call(api, "DELETE", f"/{sid}").status_code == 204
    api_error(_call(api, "GET", f"/{sid}"), 404)


def test_cron_next_run_is_in_its_time_zone(api: Api) -> None:
    body = {"cron": "30 9 * * *", "timezone": "Europe/Paris", "job": chat_body("daily")}
    created = _call(api, "POST", body=body)
    assert created.status_code == 201, created.text
    local = _when(created.json()["next_run_at"]).astimezone(ZoneInfo("Europe/Paris"))
    assert (local.hour, local.minute) == (9, 30)
    assert _call(api, "DELETE", f"/{created.json()['id']}").status_code == 204


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"cron": "* * * * *", "every_seconds": 5}, "cron or every_seconds"),
        ({}, "cron or every_seconds"),
        ({"cron": "61 * * * *"}, "cron"),
        ({"cron": "* * * *"}, "cron"),
        ({"every_seconds": 0}, "every_seconds"),
        ({"every_seconds": 5, "timezone": "Mars/Olympus"}, "timezone"),
        ({"every_seconds": 5, "job": {**chat_body("x"), "delay_seconds": 5}}, "job.delay_seconds"),
        ({"every_seconds": 5, "job": {"type": "chat", "request": {}}}, "job.request"),
        (
            {"every_seconds": 5, "job": {**chat_body("x"), "callback_url": "http://10.0.0.1/"}},
            "callback_url",
        ),
        ({"every_seconds": 5, "extra": 1}, "extra"),
    ],
)
def test_bad_schedules_are_422(api: Api, body: dict[str, Any], field: str) -> None:
    body = {"job": chat_body("x"), **body}
    error = api_error(_call(api, "POST", body=body), 422)
    assert field in error["message"], error
