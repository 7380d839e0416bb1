"""Sliding windows behind the ``x-ratelimit-*`` headers and the optional RPS limit.

Header names are the current Mistral form (mistral-api.md §3, "Rate-limit headers").
"""

from __future__ import annotations

import math
from collections import deque

from mistral_queue.dev.emulator.config import EmulatorConfig

#: Response header a route sets to tell the window how many tokens its answer cost.
COST_HEADER = "x-ratelimit-tokens-query-cost"


class MinuteWindow:
    """Requests and tokens served in the last 60 seconds (monotonic clock)."""

    def __init__(self, seconds: float = 60.0) -> None:
        self._seconds = seconds
        self._events: deque[tuple[float, int]] = deque()
        self._tokens = 0

    def record(self, now: float, tokens: int) -> None:
        """Count one served request costing ``tokens`` at monotonic time ``now``."""
        self._prune(now)
        self._events.append((now, tokens))
        self._tokens += tokens

    def usage(self, now: float) -> tuple[int, int]:
        """(requests, tokens) served in the window ending at ``now``."""
        self._prune(now)
        return len(self._events), self._tokens

    def _prune(self, now: float) -> None:
        while self._events and self._events[0][0] <= now - self._seconds:
            self._tokens -= self._events.popleft()[1]


def ratelimit_headers(
    config: EmulatorConfig, window: MinuteWindow, now: float, cost: int
) -> list[tuple[bytes, bytes]]:
    """The five ``x-ratelimit-*`` headers after serving a request that cost ``cost`` tokens."""
    requests, tokens = window.usage(now)
    values = {
        "x-ratelimit-limit-req-minute": config.ratelimit_req_minute,
        "x-ratelimit-remaining-req-minute": max(0, config.ratelimit_req_minute - requests),
        "x-ratelimit-limit-tokens-minute": config.ratelimit_tokens_minute,
        "x-ratelimit-remaining-tokens-minute": max(0, config.ratelimit_tokens_minute - tokens),
        COST_HEADER: cost,
    }
    return [(name.encode(), str(value).encode()) for name, value in values.items()]


class RpsLimiter:
    """Admits at most ``rate`` requests in any one-second window."""

    def __init__(self) -> None:
        self._admitted: deque[float] = deque()

    def admit(self, now: float, rate: float | None) -> float | None:
        """Admit a request at monotonic ``now``; return None, or seconds to wait when refused."""
        while self._admitted and self._admitted[0] <= now - 1.0:
            self._admitted.popleft()
        if rate is not None and len(self._admitted) >= rate:
            return max(1.0, math.ceil(self._admitted[0] + 1.0 - now))
        self._admitted.append(now)
        return None
