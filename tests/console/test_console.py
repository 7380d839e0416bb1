"""The console in a real browser: sign-in, live jobs, one job's timeline, retry, phone width."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import Browser, Page, expect

from mistral_queue.dev.stack import LocalStack
from tests.console.conftest import screenshot
from tests.helpers import Api, chat_body


def sign_in(page: Page, url: str, key: str, *, accepted: bool = True) -> None:
    page.goto(f"{url}/console")
    page.fill("#api-key", key)
    page.click("#signin button[type=submit]")
    if accepted:
        expect(page.locator("#nav")).to_be_visible()


def test_wrong_key_shows_an_error(page: Page, stack: LocalStack) -> None:
    sign_in(page, stack.api.url, "not-a-key", accepted=False)
    expect(page.locator("#signin-status .error")).to_contain_text("refused")
    expect(page.locator("#nav")).to_be_hidden()
    assert page.evaluate("sessionStorage.getItem('mq.console.key')") is None
    screenshot(page, "signin-error")


def test_submitted_job_appears_live_and_reaches_succeeded(
    page: Page, stack: LocalStack, api: Api
) -> None:
    sign_in(page, stack.api.url, api.key)
    expect(page.locator("#live-state")).to_have_text("● live")
    # Slow enough upstream that the row is seen before the job ends.
    job = api.submit(chat_body("console live [[fault:latency=1500+ok]]"))
    row = page.locator(f"tr[data-job-id='{job['id']}']")
    expect(row).to_be_visible()
    expect(row.locator(".status")).to_have_attribute("data-status", "succeeded")
    screenshot(page, "jobs")
    row.locator("a").click()
    expect(page).to_have_url(re.compile(f"#/jobs/{job['id']}$"))
    expect(page.locator("[data-fact=status] .status")).to_have_attribute("data-status", "succeeded")
    expect(page.locator("#timeline li[data-type='job.succeeded']")).to_have_count(1)
    expect(page.locator("#job-bodies summary", has_text="Result")).to_be_visible()
    screenshot(page, "job")


def test_retry_on_a_failed_job_runs_it_again(page: Page, stack: LocalStack, api: Api) -> None:
    # The emulator answers the first call 400 (not retried: the job fails), later calls succeed.
    job = api.submit(chat_body("console retry [[fault:400]]"))
    assert api.wait_final(job["id"], callback=False)["status"] == "failed"
    sign_in(page, stack.api.url, api.key)
    page.goto(f"{stack.api.url}/console#/jobs/{job['id']}")
    expect(page.locator("[data-fact=status] .status")).to_have_attribute("data-status", "failed")
    page.click("#action-retry")
    expect(page.locator("#action-answer [data-answer=retry]")).to_be_visible()
    expect(page.locator("[data-fact=status] .status")).to_have_attribute(
        "data-status", "succeeded", timeout=60_000
    )
    expect(page.locator("#timeline li[data-type='job.succeeded']")).to_have_count(1)
    expect(page.locator("#timeline li[data-type='job.failed']")).to_have_count(1)


def test_cancel_of_a_finished_job_shows_the_api_answer(
    page: Page, stack: LocalStack, api: Api
) -> None:
    job = api.submit(chat_body("console cancel"))
    api.wait_final(job["id"], callback=False)
    sign_in(page, stack.api.url, api.key)
    page.goto(f"{stack.api.url}/console#/jobs/{job['id']}")
    expect(page.locator("[data-fact=status] .status")).to_have_attribute("data-status", "succeeded")
    page.click("#action-cancel")
    expect(page.locator("#action-answer .error")).to_contain_text("conflict")


def test_tenant_sees_only_its_jobs(page: Page, stack: LocalStack, other_tenant: Api) -> None:
    theirs = other_tenant.submit(chat_body("globex only"))
    sign_in(page, stack.api.url, "key-acme")
    expect(page.locator("#jobs-body tr").first).to_be_visible()
    expect(page.locator(f"tr[data-job-id='{theirs['id']}']")).to_have_count(0)
    page.goto(f"{stack.api.url}/console#/jobs/{theirs['id']}")
    expect(page.locator("#view .error")).to_contain_text("not_found")


def test_phone_width_has_no_horizontal_scroll(
    browser: Browser, stack: LocalStack, api: Api
) -> None:
    api.wait_final(api.submit(chat_body("phone width"))["id"], callback=False)
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    try:
        sign_in(page, stack.api.url, "key-acme")
        expect(page.locator("#jobs")).to_be_visible()
        page.locator("#jobs-body tr a").first.click()
        expect(page.locator("#timeline li").first).to_be_visible()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"page is {width}px wide on a 390px screen"
        screenshot(page, "job-phone")
    finally:
        context.close()


def test_console_is_served_with_a_strict_policy(stack: LocalStack) -> None:
    page = httpx.get(f"{stack.api.url}/console")
    assert page.status_code == 200
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
    # No inline script or style anywhere in the page: every script has a src.
    assert re.search(r"<script(?![^>]*\bsrc=)", page.text) is None
    assert "style=" not in page.text and "<style" not in page.text
    asset = httpx.get(f"{stack.api.url}/console/static/main.js")
    assert asset.status_code == 200 and "javascript" in asset.headers["content-type"]
    assert asset.headers["x-content-type-options"] == "nosniff"


def test_usage_page_shows_the_tenants_tokens(page: Page, stack: LocalStack, api: Api) -> None:
    api.wait_final(api.submit(chat_body("usage for the console"))["id"], callback=False)
    usage = httpx.get(f"{stack.api.url}/v1/usage", headers=api.headers()).json()
    sign_in(page, stack.api.url, api.key)
    page.goto(f"{stack.api.url}/console#/usage")
    expect(page.locator("#usage-tokens")).to_have_text(str(usage["tokens"]["total"]))
    expect(page.locator("figure figcaption", has_text="Tokens per model")).to_be_visible()
    expect(page.locator("#queue-depth")).to_be_visible()
    expect(page.locator("#jobs-per-second")).not_to_have_text("…")
    screenshot(page, "usage")
