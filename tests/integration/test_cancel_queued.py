"""A job cancelled while queued never reaches Mistral, and its caller is told."""

from __future__ import annotations

import json

import httpx
import pytest
import redis

from mistral_queue.broker.names import QUEUES
from mistral_queue.dev.stack import launch
from tests.conftest import TEST_ENV
from tests.helpers import Api, chat_body, emulator_calls, raw_receiver, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]


def test_cancel_a_queued_job_never_calls_upstream() -> None:
    # Given a deployment whose worker is not running yet, so the job stays queued
    local = launch(env=TEST_ENV, workers=0)
    try:
        api = Api(local.api.url, "key-acme")
        broker = redis.Redis.from_url(local.redis.url)
        with raw_receiver() as receiver:
            job = api.submit(chat_body("never sent", receiver.url))
            # When it is cancelled while queued
            response = httpx.post(f"{api.url}/v1/jobs/{job['id']}/cancel", headers=api.headers())
            assert response.status_code == 200, response.text
            assert response.json()["status"] == "cancelled"
            # and a worker then consumes its message
            local.start_worker()
            wait_for(lambda: broker.llen(QUEUES[next(iter(QUEUES))]) == 0, 20, "the queue to drain")
            callbacks = wait_for(lambda: receiver.for_job(job["id"]), 20, "the cancel callback")
            final = api.wait_final(job["id"])
        # Then it never reached the emulator, and the caller was told
        assert emulator_calls(local.emulator.url, job["id"]) == []
        assert final["status"] == "cancelled"
        assert final["attempts"] == 0
        assert json.loads(callbacks[0].body)["type"] == "job.cancelled"
    finally:
        local.stop()


def test_a_job_cancelled_in_the_api_reaches_the_tenants_endpoints() -> None:
    local = launch(env=TEST_ENV, workers=0)
    try:
        api = Api(local.api.url, "key-acme")
        with raw_receiver() as receiver:
            created = httpx.post(
                f"{api.url}/v1/endpoints", json={"url": receiver.url}, headers=api.headers()
            )
            assert created.status_code == 201, created.text
            # Given a queued job without callback_url, cancelled before any worker runs
            job = api.submit(chat_body("cancelled, to endpoints"))
            response = httpx.post(f"{api.url}/v1/jobs/{job['id']}/cancel", headers=api.headers())
            assert response.status_code == 200, response.text
            # When a worker starts, then the endpoint is told
            local.start_worker()
            [got] = wait_for(lambda: receiver.for_job(job["id"]), 20, "the endpoint delivery")
        assert json.loads(got.body)["type"] == "job.cancelled"
    finally:
        local.stop()
