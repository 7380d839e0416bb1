"""The deployment-wide rate limiter: requests per second and tokens per minute, in Redis.

Every worker process on every machine shares one budget per limit group (DESIGN § Retries,
backoff, rate limits). One Lua script checks and books both dimensions atomically on the
Redis server's clock (``lua/limiter_acquire.lua``). Requests are counted the way the server
counts them, in a sliding log ("at most R in any second"), so the whole limit is usable with
no fixed headroom; tokens use GCRA ("pay after"). The ``limits`` library was considered: it
has token-weighted hits but cannot take two limits in one atomic step, give tokens back
after the call, or answer a 429 with a pause sized from the window, so the scripts are ours.

A caller that must wait briefly (``rate_limit_max_inline_wait``) gets a booked slot and
sleeps until it, then checks the window again against the time it actually leaves
(``lua/limiter_depart.lua``); a longer wait books nothing and raises RateLimitWait with
jitter, so deferred tasks come back spread out rather than all at once. A 429 that comes
anyway means calls arrived closer together than they left: the group's window margin doubles
(decaying back over two minutes) and the group waits only until the oldest call of the full
window has left the server's window (``lua/limiter_pause.lua``).
"""

from __future__ import annotations

import fnmatch
import math
import random
import secrets
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
_DEPART = _LUA.joinpath("limiter_depart.lua").read_text()

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

#: Seconds added to a request window to absorb the delay between a call leaving (on the
#: Redis clock) and reaching Mistral: the least (``rate_limit_margin``, MIN_MARGIN by
#: default), and the most after repeated 429s. A raised margin decays by MARGIN_DECAY
#: seconds per second, back to the least within two minutes.
MIN_MARGIN = 0.01
MAX_MARGIN = 0.25
MARGIN_DECAY = 0.002

#: Most re-checks of the window before a booked call leaves (each waits for one to leave).
MAX_DEPART_CHECKS = 20


@dataclass(frozen=True)
class LimitGroup:
    """The models that share one budget: ``default`` or one ``MQ_RATE_LIMITS`` pattern."""

    name: str
    rps: float | None
    tpm: int | None
    #: Share of the token limit kept unused (0..0.5): estimates are settled only after the
    #: call. Requests need none: they are counted exactly (module docstring).
    headroom: float = 0.0

    def key(self, part: str) -> str:
        """The Redis key of one part (``rpslog``, ``paced``, ``tpm``, ``pause``, ``margin``)."""
        return keys.ratelimit(self.name, part)

    @property
    def request_window(self) -> tuple[int, float]:
        """``(requests, seconds)``: at most that many requests in any window that long.

        ``rps`` 20 is 20 in any second; 0.5 is 1 in any 2 s; (0, 0) means no request limit.
        """
        if not self.rps:
            return 0, 0.0
        count = max(1, math.floor(self.rps))
        return count, count / self.rps

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
        self.margin = settings.rate_limit_margin
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
        self._depart = client.register_script(_DEPART)

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
        count, window = group.request_window
        names = [group.key("rpslog"), group.key("tpm"), group.key("pause"), GLOBAL_PAUSE_KEY,
                group.key("margin"), group.key("paced")]  # fmt: skip
        call_id = secrets.token_hex(8)
        tokens = max(0, est_tokens)
        args: list[str | float] = [
            count, window, group.seconds_per_token, tokens, self.max_inline_wait, call_id,
            self.margin, MARGIN_DECAY,
        ]  # fmt: skip
        booked, wait_text, reason = self._acquire(keys=names, args=args)
        wait = max(0.0, float(wait_text))
        if not int(booked):
            spread = max(MIN_JITTER, wait * JITTER_FRACTION)
            raise RateLimitWait(wait + self._rng.uniform(0.0, spread), model, _text(reason))
        if wait > 0:
            self._sleep(wait)
            if count:
                wait += self._leave(group, call_id)
        return Reservation(self, group, model, tokens, wait)

    def _leave(self, group: LimitGroup, call_id: str) -> float:
        """Re-check a booked call's window at the time it leaves; seconds slept meanwhile."""
        count, window = group.request_window
        names = [group.key("rpslog"), group.key("margin")]
        args: list[str | float] = [count, window, call_id, self.margin, MARGIN_DECAY]
        slept = 0.0
        for _ in range(MAX_DEPART_CHECKS):
            extra = float(self._depart(keys=names, args=args))
            if extra <= 0:
                break
            self._sleep(extra)
            slept += extra
        return slept

    def penalize(self, delay: float, model: str | None = None) -> float:
        """Pause after Mistral answered 429 anyway, for the least time that works.

        With ``model`` and a full request window in the group's log, the pause lasts only
        until the window's oldest call has left the server's window (often a few ms, at most
        ``delay``) and the group's margin doubles; otherwise (tokens, other clients) it lasts
        ``delay``.

        Args:
            delay: seconds (see ``pause_for``); a longer pause in force is kept.
            model: pause only this model's group; None pauses every group for ``delay``.

        Returns:
            Seconds the pause now lasts.
        """
        if model is None:
            names = [GLOBAL_PAUSE_KEY, GLOBAL_PAUSE_KEY, GLOBAL_PAUSE_KEY]
            count, window = 0, 0.0
        else:
            group = self.group_for(model)
            names = [group.key("pause"), group.key("rpslog"), group.key("margin")]
            count, window = group.request_window
        # A zero margin must still be able to grow after a 429.
        least = max(self.margin, MIN_MARGIN / 2)
        args = [max(0.0, delay), count, window, least, MAX_MARGIN, MARGIN_DECAY]
        return float(self._pause(keys=names, args=args))

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
