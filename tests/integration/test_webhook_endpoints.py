"""Registered endpoints over real HTTP: CRUD, tenancy, filters, own secrets, rotation, the
attempt log, 410 disabling, rate limits, and recovery after a receiver outage."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from mistral_queue.dev.stack import LocalStack
from tests.helpers import Api, api_error, chat_body, raw_receiver, wait_for


class Endpoints:
    """``/v1/endpoints`` as one tenant; deletes what it created at the end."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.created: list[str] = []

    def url(self, path: str = "") -> str:
        return f"{self.api.url}/v1/endpoints{path}"

    def request(self, method: str, path: str = "", **kwargs: Any) -> httpx.Response:
        return httpx.request(method, self.url(path), headers=self.api.headers(), **kwargs)

    def create(self, **body: Any) -> dict[str, Any]:
        response = self.request("POST", json=body)
        assert response.status_code == 201, response.text
        endpoint: dict[str, Any] = response.json()
        self.created.append(endpoint["id"])
        return endpoint

    def secret(self, endpoint_id: str) -> str:
        response = self.request("GET", f"/{endpoint_id}/secret")
        assert response.status_code == 200, response.text
        key: str = response.json()["key"]
        return key

    def attempts(self, endpoint_id: str, **params: Any) -> dict[str, Any]:
        response = self.request("GET", f"/{endpoint_id}/attempts", params=params)
        assert response.status_code == 200, response.text
        page: dict[str, Any] = response.json()
        return page

    def cleanup(self) -> None:
        for endpoint_id in self.created:
            self.request("DELETE", f"/{endpoint_id}")


@pytest.fixture
def endpoints(api: Api) -> Iterator[Endpoints]:
    # Every acme job without callback_url goes to acme's endpoints: remove them afterwards so
    # other tests' jobs are not delivered to them.
    client = Endpoints(api)
    yield client
    client.cleanup()


def _verified(secret: str, captured: Any) -> dict[str, Any]:
    body: dict[str, Any] = Webhook(secret).verify(captured.body, captured.headers)
    return body


def test_crud_cursor_and_validation(endpoints: Endpoints) -> None:
    first = endpoints.create(url="http://127.0.0.1:9/a", event_types=["job.succeeded"])
    assert first["id"].startswith("ep_")
    assert first["event_types"] == ["job.succeeded"]
    assert first["disabled"] is False
    second = endpoints.create(url="http://127.0.0.1:9/b", description="two", rate_limit=5)
    page = endpoints.request("GET", params={"limit": 1}).json()
    ids = [e["id"] for e in page["data"]]
    assert page["next_cursor"] is not None and len(ids) == 1
    rest = endpoints.request("GET", params={"cursor": page["next_cursor"], "limit": 100}).json()
    ids += [e["id"] for e in rest["data"]]
    assert [first["id"], second["id"]] == [i for i in ids if i in (first["id"], second["id"])]
    patched = endpoints.request("PATCH", f"/{second['id']}", json={"disabled": True})
    assert patched.json()["disabled"] is True and patched.json()["description"] == "two"
    assert endpoints.request("GET", f"/{second['id']}").json()["disabled"] is True
    assert endpoints.secret(first["id"]).startswith("whsec_")
    assert endpoints.secret(first["id"]) != endpoints.secret(second["id"])
    assert endpoints.request("DELETE", f"/{second['id']}").status_code == 204
    api_error(endpoints.request("GET", f"/{second['id']}"), 404)
    # Bad input names the field
    bad = api_error(endpoints.request("POST", json={"url": "ftp://x"}), 422)
    assert bad["details"][0]["field"] == "url"
    bad = api_error(
        endpoints.request(
            "POST", json={"url": "http://127.0.0.1:9/", "event_types": ["no spaces"]}
        ),
        422,
    )
    assert bad["details"][0]["field"].startswith("event_types")
    unsafe = api_error(endpoints.request("POST", json={"url": "http://169.254.169.254/x"}), 422)
    assert "refused" in unsafe["message"]


def test_another_tenants_endpoint_is_404(endpoints: Endpoints, other_tenant: Api) -> None:
    mine = endpoints.create(url="http://127.0.0.1:9/mine")
    theirs = Endpoints(other_tenant)
    for method, path, body in [
        ("GET", "", None),
        ("PATCH", "", {"description": "x"}),
        ("DELETE", "", None),
        ("GET", "/secret", None),
        ("POST", "/secret/rotate", None),
        ("GET", "/attempts", None),
        ("POST", "/recover", {"since": "2026-01-01T00:00:00Z"}),
    ]:
        response = theirs.request(method, f"/{mine['id']}{path}", json=body)
        assert api_error(response, 404)["type"] == "not_found", (method, path)
    listed = theirs.request("GET", params={"limit": 100}).json()["data"]
    assert mine["id"] not in {e["id"] for e in listed}
    assert endpoints.request("GET", f"/{mine['id']}").status_code == 200


def test_jobs_go_to_matching_endpoints_signed_with_their_own_secret(
    stack: LocalStack, api: Api, endpoints: Endpoints
) -> None:
    with raw_receiver() as wants, raw_receiver() as filtered_out, raw_receiver() as every:
        a = endpoints.create(url=wants.url, event_types=["job.succeeded"])
        endpoints.create(url=filtered_out.url, event_types=["job.failed"])
        c = endpoints.create(url=every.url)
        job = api.submit(chat_body("to endpoints"))
        api.wait_final(job["id"], callback=False)
        [got] = wait_for(lambda: wants.for_job(job["id"]) or None, 15, "endpoint delivery")
        [also] = wait_for(lambda: every.for_job(job["id"]) or None, 15, "endpoint delivery")
        time.sleep(0.5)
        assert filtered_out.for_job(job["id"]) == []
    body = _verified(endpoints.secret(a["id"]), got)
    assert body["type"] == "job.succeeded" and body["data"]["id"] == job["id"]
    _verified(endpoints.secret(c["id"]), also)
    # Neither the deployment's secret nor the other endpoint's verifies it
    with pytest.raises(WebhookVerificationError):
        Webhook(stack.secret).verify(got.body, got.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(endpoints.secret(c["id"])).verify(got.body, got.headers)
    [attempt] = wait_for(lambda: endpoints.attempts(a["id"])["data"] or None, 10, "the log")
    assert set(attempt) == {"id", "job_id", "event_type", "webhook_id", "status_code",
                            "error", "duration_ms", "attempted_at"}  # fmt: skip
    assert attempt["job_id"] == job["id"] and attempt["status_code"] == 200
    assert attempt["webhook_id"] == got.headers["webhook-id"]
    assert attempt["event_type"] == "job.succeeded" and attempt["error"] is None


def test_rotation_signs_with_both_keys_during_the_grace(api: Api, endpoints: Endpoints) -> None:
    with raw_receiver() as receiver:
        ep = endpoints.create(url=receiver.url)
        old = endpoints.secret(ep["id"])
        rotated = endpoints.request("POST", f"/{ep['id']}/secret/rotate")
        assert rotated.status_code == 200, rotated.text
        new = rotated.json()["key"]
        assert new != old and endpoints.secret(ep["id"]) == new
        job = api.submit(chat_body("after rotation"))
        [got] = wait_for(lambda: receiver.for_job(job["id"]) or None, 15, "the delivery")
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    _verified(old, got)
    _verified(new, got)


def test_attempts_page_newest_first(api: Api, endpoints: Endpoints) -> None:
    with raw_receiver() as receiver:
        receiver.statuses[:] = [500, 500]
        ep = endpoints.create(url=receiver.url)
        job = api.submit(chat_body("three attempts"))
        wait_for(lambda: len(receiver.for_job(job["id"])) == 3 or None, 20, "three attempts")

    def three() -> list[dict[str, Any]] | None:
        data: list[dict[str, Any]] = endpoints.attempts(ep["id"], limit=100)["data"]
        return data if len(data) == 3 else None

    attempts = wait_for(three, 10, "three logged attempts")
    assert [a["status_code"] for a in attempts] == [200, 500, 500]
    assert [a["attempted_at"] for a in attempts] == sorted(
        (a["attempted_at"] for a in attempts), reverse=True
    )
    first = endpoints.attempts(ep["id"], limit=2)
    assert len(first["data"]) == 2 and first["next_cursor"]
    rest = endpoints.attempts(ep["id"], limit=2, cursor=first["next_cursor"])
    assert [a["id"] for a in first["data"] + rest["data"]] == [a["id"] for a in attempts]
    assert rest["next_cursor"] is None


def test_410_disables_the_endpoint_with_an_event(api: Api, endpoints: Endpoints) -> None:
    with raw_receiver() as receiver:
        receiver.statuses[:] = [410]
        ep = endpoints.create(url=receiver.url)
        job = api.submit(chat_body("gone"))
        wait_for(
            lambda: endpoints.request("GET", f"/{ep['id']}").json()["disabled"] or None,
            15,
            "disabled",
        )
        later = api.submit(chat_body("not sent"))
        api.wait_final(later["id"], callback=False)
        time.sleep(1.0)
        assert len(receiver.for_job(job["id"])) == 1
        assert receiver.for_job(later["id"]) == []
    assert ep["id"] in _disabled_events(api)


def _disabled_events(api: Api) -> set[str]:
    """Endpoint ids of every ``endpoint.disabled`` event in the tenant's log (all pages)."""
    found: set[str] = set()
    after = "0"
    while True:
        params: dict[str, str | int] = {"format": "json", "type": "endpoint.disabled",
                                        "after": after, "limit": 1000}  # fmt: skip
        page = httpx.get(f"{api.url}/v1/events", params=params, headers=api.headers())
        assert page.status_code == 200, page.text
        body = page.json()
        found |= {e["data"]["endpoint_id"] for e in body["data"]}
        if not body["has_more"]:
            return found
        after = body["next_cursor"]


def test_rate_limit_spaces_deliveries(api: Api, endpoints: Endpoints) -> None:
    with raw_receiver() as receiver:
        ep = endpoints.create(url=receiver.url, rate_limit=2)
        jobs = [api.submit(chat_body(f"rate {i}")) for i in range(6)]
        wait_for(lambda: all(receiver.for_job(j["id"]) for j in jobs) or None, 30, "all six")
        stamps = sorted(
            int(c.headers["webhook-timestamp"]) for j in jobs for c in receiver.for_job(j["id"])
        )
    # Two per second at most: six deliveries span at least two seconds
    assert stamps[-1] - stamps[0] >= 2
    for second in set(stamps):
        assert stamps.count(second) <= 2
    assert len(endpoints.attempts(ep["id"], limit=100)["data"]) == 6


def test_receiver_down_then_up_recover_resends_with_the_same_ids(
    api: Api, endpoints: Endpoints
) -> None:
    # Given an endpoint whose receiver is down for the whole schedule
    with raw_receiver() as gone:
        dead_url = gone.url
    ep = endpoints.create(url=dead_url)
    since = datetime.now(UTC) - timedelta(seconds=1)
    jobs = [api.submit(chat_body(f"outage {i}")) for i in range(3)]

    def failed() -> list[dict[str, Any]] | None:
        data: list[dict[str, Any]] = endpoints.attempts(ep["id"], limit=100)["data"]
        return data if len(data) >= 12 else None

    logged = wait_for(failed, 40, "four failed attempts per job")
    assert {a["status_code"] for a in logged} == {None}
    ids = {a["job_id"]: a["webhook_id"] for a in logged}
    with raw_receiver() as back:
        # When the receiver is back (at a new address) and the failures are recovered
        endpoints.request("PATCH", f"/{ep['id']}", json={"url": back.url})
        response = endpoints.request(
            "POST", f"/{ep['id']}/recover", json={"since": since.isoformat()}
        )
        assert response.status_code == 202, response.text
        assert response.json()["recovered"] == 3
        # Then each message arrives once, with its original webhook-id
        wait_for(lambda: all(back.for_job(j["id"]) for j in jobs) or None, 20, "recovered")
        for job in jobs:
            [got] = back.for_job(job["id"])
            assert got.headers["webhook-id"] == ids[job["id"]]
            _verified(endpoints.secret(ep["id"]), got)
    again = endpoints.request("POST", f"/{ep['id']}/recover", json={"since": since.isoformat()})
    assert again.json()["recovered"] == 0
    bad = endpoints.request("POST", f"/{ep['id']}/recover", json={"since": "yesterday"})
    assert api_error(bad, 422)["details"][0]["field"] == "since"
