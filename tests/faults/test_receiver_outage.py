"""The webhook receiver is down longer than the first three retry delays: every callback
arrives once it is back, with its original webhook-id (issue 8 § Receiver outage)."""

from __future__ import annotations

import time

import pytest

from tests.faults.support import (
    api_of,
    fault_stack,
    received,
    records,
    redis_client,
    submit_many,
    wait_settled,
    webhook_id,
)
from tests.helpers import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

JOBS = 20
#: Callback retry delays, seconds: the outage outlasts the first three (0.5 + 1 + 1.5 = 3 s).
DELAYS = (0.5, 1.0, 1.5, 2.0, 4.0, 8.0)
OUTAGE = 4.5


def test_callbacks_survive_a_receiver_outage_with_their_ids() -> None:
    retry_delays = ",".join(f"{d:g}" for d in DELAYS)
    with fault_stack(MQ_CALLBACK_RETRY_DELAYS=retry_delays) as stack:
        api = api_of(stack)
        client = redis_client(stack)
        # Given the receiver is down
        stack.stop_receiver()
        down_at = time.monotonic()
        ids = submit_many(api, (f"outage {i}" for i in range(JOBS)), stack.receiver.url)

        # When every callback has failed more than three times before it comes back
        def retried() -> bool:
            found = records(client, ids).values()
            return all(int(r.get("callback_attempts", 0)) >= 4 for r in found)

        wait_for(retried, 20, "four failed attempts per callback")
        time.sleep(max(0.0, OUTAGE - (time.monotonic() - down_at)))
        stack.start_receiver()

        # Then every callback is delivered exactly once, with its stable webhook-id
        final = wait_settled(client, ids, timeout=40)
        assert {r["callback_status"] for r in final.values()} == {"delivered"}
        got = [e["webhook_id"] for e in received(stack)]
        assert sorted(got) == sorted(webhook_id(job_id) for job_id in ids)
        # And each attempt was recorded: the failed ones, then the delivery
        assert all(int(r["callback_attempts"]) >= 5 for r in final.values())
