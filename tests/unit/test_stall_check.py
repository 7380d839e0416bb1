"""The watchdog's stall decision (pure logic): idle with free slots while work waits, for long."""

from __future__ import annotations

from mistral_queue.worker.watchdog import StallCheck, watches


def looks(check: StallCheck, *steps: tuple[float, int, int, int]) -> list[bool]:
    return [
        check.observe(now=now, waiting=waiting, free_slots=free, started=started)
        for now, waiting, free, started in steps
    ]


def test_idle_with_work_waiting_is_a_stall_once_it_lasts() -> None:
    check = StallCheck(limit=10)
    # (now, waiting, free slots, tasks started so far)
    assert looks(check, (0, 5, 4, 7), (5, 5, 4, 7), (9, 5, 4, 7), (15, 5, 4, 7)) == [
        False,
        False,
        False,
        True,
    ]


def test_a_started_task_resets_the_clock() -> None:
    check = StallCheck(limit=10)
    assert looks(check, (0, 5, 4, 7), (5, 5, 4, 7), (9, 5, 4, 8), (15, 5, 4, 8)) == [False] * 4
    assert looks(check, (24, 5, 4, 8), (25, 5, 4, 8)) == [False, True]


def test_no_work_or_no_free_slot_is_never_a_stall() -> None:
    check = StallCheck(limit=1)
    assert looks(check, (0, 0, 4, 1), (5, 0, 4, 1), (10, 3, 0, 1), (20, 3, 0, 1)) == [False] * 4


def test_only_a_redis_broker_is_watched() -> None:
    assert watches("redis://localhost:6379/0")
    assert watches("rediss://cache:6380/1")
    assert not watches("amqp://guest@rabbit//")
