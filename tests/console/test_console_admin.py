"""The admin key in the console: the tenant list, then one tenant's jobs (``X-MQ-Tenant``)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect

from mistral_queue.dev.stack import LocalStack
from tests.console.conftest import screenshot
from tests.console.test_console import sign_in
from tests.helpers import Api, chat_body, extra_api

ADMIN = "admin-" + "4d7e2b9c1a6f3e8d5b0c"


@pytest.fixture(scope="module")
def admin_api(stack: LocalStack) -> Iterator[Api]:
    """Another API process of the stack with the admin API on."""
    with extra_api({**stack.env, "MQ_ADMIN_KEY": ADMIN}, "console-admin-api", key=ADMIN) as api:
        yield api


def test_admin_picks_a_tenant_and_sees_its_jobs(page: Page, admin_api: Api, api: Api) -> None:
    created = httpx.post(f"{admin_api.url}/v1/admin/tenants", json={"id": "initech"},
                         headers=admin_api.headers())  # fmt: skip
    assert created.status_code == 201, created.text
    job = api.submit(chat_body("acme's job, seen by the admin"))
    sign_in(page, admin_api.url, ADMIN)
    expect(page.locator("#tenants tr[data-tenant=initech]")).to_be_visible()
    screenshot(page, "tenants")
    page.fill("#tenant-id", "acme")
    page.click("#tenant-pick button[type=submit]")
    expect(page.locator(f"tr[data-job-id='{job['id']}']")).to_be_visible()
    expect(page.locator("#acting")).to_have_text("viewing tenant acme")


def test_acting_header_is_only_honoured_with_the_admin_key(admin_api: Api, api: Api) -> None:
    theirs = api.submit(chat_body("acme only"))
    url = f"{admin_api.url}/v1/jobs/{theirs['id']}"
    # A tenant key naming another tenant stays itself.
    as_globex = httpx.get(url, headers={"Authorization": "Bearer key-globex",
                                        "X-MQ-Tenant": "acme"})  # fmt: skip
    assert as_globex.status_code == 404
    # The admin key acts only as a tenant that exists, and only when it names one.
    for acting in ("nobody", ""):
        refused = httpx.get(url, headers={**admin_api.headers(), "X-MQ-Tenant": acting})
        assert refused.status_code == 401
    seen = httpx.get(url, headers={**admin_api.headers(), "X-MQ-Tenant": "acme"})
    assert seen.status_code == 200 and seen.json()["id"] == theirs["id"]
