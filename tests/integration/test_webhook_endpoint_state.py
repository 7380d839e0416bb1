"""Endpoint state against a real Redis (jobs.endpoint_state): the disable-after clock."""

from __future__ import annotations

import time

import redis

from mistral_queue.jobs import keys
from mistral_queue.jobs.endpoint_state import load, note_outcome
from mistral_queue.webhooks.endpoints import Endpoint, StoredEndpoint, new_endpoint_id


def test_an_endpoint_failing_too_long_is_disabled_once(private_redis: redis.Redis) -> None:
    endpoint_id = new_endpoint_id()
    record = StoredEndpoint(
        endpoint=Endpoint(
            id=endpoint_id, url="http://127.0.0.1:9/", created_at="x", updated_at="x"
        ),
        tenant="acme",
        secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    )
    private_redis.hset(keys.endpoint(endpoint_id), mapping=record.to_hash())  # type: ignore[arg-type]
    # A success in between restarts the clock
    assert note_outcome(private_redis, record, ok=False, disable_after=0.4) is False
    assert note_outcome(private_redis, record, ok=True, disable_after=0.4) is False
    time.sleep(0.3)
    assert note_outcome(private_redis, record, ok=False, disable_after=0.4) is False
    time.sleep(0.25)
    assert note_outcome(private_redis, record, ok=False, disable_after=0.4) is False
    time.sleep(0.25)
    # Failing without a success for longer than disable_after: disabled, and only once
    assert note_outcome(private_redis, record, ok=False, disable_after=0.4) is True
    assert note_outcome(private_redis, record, ok=False, disable_after=0.4) is False
    stored = load(private_redis, endpoint_id)
    assert stored is not None and stored.endpoint.disabled
    assert stored.endpoint.failing_since is not None
