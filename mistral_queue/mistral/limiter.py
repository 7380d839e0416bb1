"""The deployment-wide rate limiter: requests per second and tokens per minute, in Redis.

Every worker process on every machine shares one budget per limit group (DESIGN § Retries,
backoff, rate limits). One Lua script checks and books both dimensions atomically on the
Redis server's clock (GCRA, see ``lua/limiter_acquire.lua``). The ``limits`` library was
considered: it has token-weighted hits but cannot take two limits in one atomic step, give
tokens back after the call, or pause everyone after a 429, so the script is our own.

A caller that must wait briefly (``rate_limit_max_inline_wait``) gets a booked slot and
sleeps until it; a longer wait books nothing and raises RateLimitWait with jitter, so
deferred tasks come back spread out rather than all at once.
"""

from __future__ import annotations

import fnmatch
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any

import orjson
import redis

from mistral_queue.config import Settings
from mistral_queue.jobs import keys
from mistral_queue.mistral.errors import RateLimitWait, UpstreamError

_LUA = resources.files("mistral_queue.mistral").joinpath("lua")
_ACQUIRE = _LUA.joinpath("limiter_acquire.lua").read_text()
_SETTLE = _LUA.joinpath("limiter_settle.lua").read_text()
_PAUSE = _LUA.joinpath("limiter_pause.lua").read_text()

#: Redis key of the pause that applies to every group.
GLOBAL_PAUSE_KEY = keys.RATELIMIT_PAUSE

#: Characters per token for estimates (~4 for English with Mistral's tokenizers); the JSON
#: syntax counted with the text keeps the estimate on the high side.
CHARS_PER_TOKEN = 4

#: Completion tokens assumed when a body sets no ``max_tokens``.
DEFAULT_COMPLETION_TOKENS = 1024

#: Deferred waits get up to this share of themselves added at random (at least MIN_JITTER s).
JITTER_FRACTION = 0.25
MIN_JITTER = 0.1

#: Seconds to pause after a 429 that says neither Retry-After nor when its window resets.
DEFAULT_PAUSE = 2.0

DEFAULT_GROUP = "default"


@dataclass(frozen=True)
class LimitGroup:
    """The models that share one budget: ``default`` or one ``MQ_RATE_LIMITS`` pattern."""

    name: str
    rps: float | None
    tpm: int | None
    #: Share of each limit kept unused (0..0.5): a booked slot reaches Mistral after a
    #: variable delay (thread wake-up, network), so spacing calls exactly 1/rps apart lets
    #: an occasional one-second window hold one call too many.
    headroom: float = 0.0

    def key(self, part: str) -> str:
        """The Redis key of one part (``rps``, ``tpm``, ``pause``) of this group."""
        return keys.ratelimit(self.name, part)

    @property
    def seconds_per_request(self) -> float:
        """GCRA emission interval for requests; 0 means no request limit."""
        return 1.0 / (self.rps * (1.0 - self.headroom)) if self.rps else 0.0

    @property
    def seconds_per_token(self) -> float:
        """GCRA emission interval for tokens; 0 means no token limit."""
        return 60.0 / (self.tpm * (1.0 - self.headroom)) if self.tpm else 0.0


class Reservation:
    """A granted slot: one request and an estimated number of tokens taken from a group."""

    def __init__(
        self, limiter: RateLimiter, group: LimitGroup, model: str, tokens: int, waited: float
    ) -> None:
        self.limiter = limiter
        self.group = group
        self.model = model
        #: The tokens taken so far (the estimate until ``settle``).
        self.tokens = tokens
        #: Seconds slept for the slot.
        self.waited = waited

    def settle(self, actual_tokens: int) -> None:
        """Replace the estimate with the call's real ``usage.total_tokens``.

        Pass 0 when the call failed without being billed, to give the estimate back.
        Settling again corrects from the last settled value.
        """
        delta = actual_tokens - self.tokens
        if delta and self.group.tpm:
            self.limiter.run_settle(self.group, delta)
        self.tokens = actual_tokens


class RateLimiter:
    """Shared rate limits for the whole deployment; thread-safe, one per process is enough."""

    def __init__(
        self,
        client: redis.Redis,
        settings: Settings,
        *,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.redis = client
        self.settings = settings
        self.max_inline_wait = settings.rate_limit_max_inline_wait
        headroom = settings.rate_limit_headroom
        self.default = LimitGroup(
            DEFAULT_GROUP, settings.rate_limit_rps, settings.rate_limit_tpm, headroom
        )
        self.groups = [
            LimitGroup(
                pattern, limit.rps or self.default.rps, limit.tpm or self.default.tpm, headroom
            )
            for pattern, limit in settings.rate_limits.items()
        ]
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._acquire = client.register_script(_ACQUIRE)
        self._settle = client.register_script(_SETTLE)
        self._pause = client.register_script(_PAUSE)

    def group_for(self, model: str) -> LimitGroup:
        """The group of the first ``rate_limits`` pattern matching ``model``, else the default."""
        for group in self.groups:
            if fnmatch.fnmatchcase(model, group.name):
                return group
        return self.default

    def acquire(self, model: str, est_tokens: int) -> Reservation:
        """Take a slot for one call to ``model`` costing about ``est_tokens`` tokens.

        Returns at once when the budget allows, or after sleeping for a booked slot at most
        ``rate_limit_max_inline_wait`` seconds away. One Redis round trip.

        Raises:
            RateLimitWait: when the next slot (or the end of a pause) is further off.
            redis.RedisError: when Redis cannot be reached.
        """
        return self.acquire_in(self.group_for(model), model, est_tokens)

    def acquire_in(self, group: LimitGroup, model: str, est_tokens: int) -> Reservation:
        """:meth:`acquire` from a given group's budget (e.g. one tenant's own rps and tpm)."""
        keys_ = [group.key("rps"), group.key("tpm"), group.key("pause"), GLOBAL_PAUSE_KEY]
        args = [
            group.seconds_per_request,
            group.seconds_per_token,
            max(0, est_tokens),
            self.max_inline_wait,
        ]
        booked, wait_text, reason = self._acquire(keys=keys_, args=args)
        wait = max(0.0, float(wait_text))
        if not int(booked):
            spread = max(MIN_JITTER, wait * JITTER_FRACTION)
            raise RateLimitWait(wait + self._rng.uniform(0.0, spread), model, _text(reason))
        if wait > 0:
            self._sleep(wait)
        return Reservation(self, group, model, max(0, est_tokens), wait)

    def penalize(self, delay: float, model: str | None = None) -> float:
        """Pause every worker for ``delay`` seconds, after Mistral answered 429 anyway.

        Args:
            delay: seconds (see ``pause_for``); a longer pause in force is kept.
            model: pause only this model's group; None pauses every group.

        Returns:
            Seconds the pause now lasts.
        """
        key = self.group_for(model).key("pause") if model is not None else GLOBAL_PAUSE_KEY
        return float(self._pause(keys=[key], args=[max(0.0, delay)]))

    def run_settle(self, group: LimitGroup, delta_tokens: int) -> None:
        """Shift ``group``'s token budget by ``delta_tokens`` (used by Reservation.settle)."""
        self._settle(keys=[group.key("tpm")], args=[delta_tokens, group.seconds_per_token])


def pause_for(error: UpstreamError) -> float:
    """Seconds the deployment should pause after a 429.

    ``Retry-After`` (or ``retry-after-ms``) when sent, else the older ``ratelimitbysize-reset``
    header (seconds, mistral-api.md §3), else DEFAULT_PAUSE.
    """
    if error.retry_after is not None:
        return error.retry_after
    reset = error.rate_limit.get("ratelimitbysize-reset")
    if isinstance(reset, int | float) and reset > 0:
        return float(reset)
    return DEFAULT_PAUSE


def estimate_tokens(body: dict[str, Any]) -> int:
    """Tokens a call may use: its prompt (the body's JSON length / CHARS_PER_TOKEN) plus
    ``max_tokens`` (DEFAULT_COMPLETION_TOKENS when unset) for each of ``n`` choices.

    Works for chat, agents, conversations (``inputs``, ``completion_args.max_tokens``) and
    FIM bodies; embeddings, moderation, classification (``input``) and OCR (``document``)
    bodies count their prompt only; ``Reservation.settle`` corrects it with the real usage.
    """
    prompt = math.ceil(len(orjson.dumps(body)) / CHARS_PER_TOKEN)
    if "input" in body or "document" in body:
        # Embeddings, moderation, classification and OCR generate no tokens.
        return prompt
    args = body.get("completion_args")
    max_tokens = body.get("max_tokens")
    if max_tokens is None and isinstance(args, dict):
        max_tokens = args.get("max_tokens")
    if not isinstance(max_tokens, int) or max_tokens < 0:
        max_tokens = DEFAULT_COMPLETION_TOKENS
    choices = body.get("n")
    return prompt + max_tokens * (choices if isinstance(choices, int) and choices > 0 else 1)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
