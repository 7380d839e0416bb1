"""Bad input gets a clear JSON error with the right status and loses nothing already accepted."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from mistral_queue.dev.stack import LocalStack
from tests.helpers import Api, api_error, chat_body, extra_api

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def guarded_api(stack: LocalStack) -> Iterator[Api]:
    """A second API process on the same Redis with no callback allow-list (production-like)."""
    with extra_api({**stack.env, "MQ_CALLBACK_ALLOW_HOSTS": ""}, "api-guarded") as guarded:
        yield guarded


@pytest.mark.parametrize("auth", [None, "Bearer wrong-key", "Basic a2V5LWFjbWU=", "Bearer"])
def test_missing_or_wrong_key_is_401(api: Api, auth: str | None) -> None:
    headers = {"Authorization": auth} if auth else {}
    response = httpx.post(f"{api.url}/v1/jobs", json=chat_body("hi"), headers=headers)
    error = api_error(response, 401)
    assert error["type"] == "unauthorized"


def test_missing_messages_is_422_naming_the_field(api: Api) -> None:
    body = {"type": "chat", "request": {"model": "mistral-small-latest"}}
    error = api_error(api.post(body), 422)
    assert "request.messages" in str(error["message"])
    assert error["details"] == [
        {"field": "request.messages", "message": "Field required", "type": "missing"}
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "chat"}, "request"),
        ({"type": "fax", "request": {}}, "type"),
        ({**chat_body("hi"), "surprise": 1}, "surprise"),
        ({**chat_body("hi"), "metadata": "x"}, "metadata"),
        (chat_body("hi", model=""), "request.model"),
    ],
)
def test_envelope_errors_name_the_field(api: Api, body: dict[str, object], field: str) -> None:
    error = api_error(api.post(body), 422)
    assert field in [d["field"] for d in error["details"]]


def test_unknown_fields_of_the_mistral_request_pass_through(api: Api) -> None:
    job = api.submit(chat_body("hi", random_seed=7, safe_prompt=False))
    assert job["request"]["random_seed"] == 7


def test_non_json_is_400(api: Api) -> None:
    response = httpx.post(
        f"{api.url}/v1/jobs",
        content=b"{not json",
        headers=api.headers(**{"content-type": "application/json"}),
    )
    assert api_error(response, 400)["type"] == "invalid_json"


def test_oversized_body_is_413(api: Api) -> None:
    body = chat_body("x" * 1_100_000)
    assert api_error(api.post(body), 413)["type"] == "too_large"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/hook",
        "http://[::1]:9/hook",
        "http://localhost:9/hook",
        "ftp://example.com/hook",
    ],
)
def test_unsafe_callback_urls_are_422(guarded_api: Api, url: str) -> None:
    error = api_error(guarded_api.post(chat_body("hi", url)), 422)
    assert error["details"][0]["field"] == "callback_url"


def test_unknown_job_is_404(api: Api) -> None:
    assert api_error(api.get("job_doesnotexist"), 404)["type"] == "not_found"


def test_another_tenants_job_is_404(api: Api, other_tenant: Api) -> None:
    job = api.submit(chat_body("mine"))
    assert api_error(other_tenant.get(job["id"]), 404)["type"] == "not_found"
    assert api.get(job["id"]).status_code == 200


def test_health_and_readiness_need_no_key(api: Api) -> None:
    assert httpx.get(f"{api.url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{api.url}/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"redis": "ok", "broker": "ok"}


def test_oversized_headers_are_refused_and_the_api_keeps_serving(api: Api) -> None:
    response = httpx.get(f"{api.url}/v1/jobs", headers=api.headers(**{"X-Padding": "x" * 200_000}))
    assert api_error(response, 431)["type"] == "headers_too_large"
    assert httpx.get(f"{api.url}/healthz").status_code == 200


def test_a_deeply_nested_body_is_422(api: Api) -> None:
    nested: object = "leaf"
    for _ in range(100):
        nested = [nested]
    error = api_error(api.post({**chat_body("deep"), "metadata": {"x": nested}}), 422)
    assert "nested deeper than 64" in str(error["message"])
