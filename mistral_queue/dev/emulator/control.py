"""Decides the fault for each call from the header, the body marker and the run-level faults.

All methods run on the server's event loop thread, one call at a time between awaits, so the
counters need no lock.
"""

from __future__ import annotations

import random
import time
from collections import deque
from dataclasses import replace
from typing import Any

from mistral_queue.dev.emulator.config import RunFaults
from mistral_queue.dev.emulator.faults import (
    OK,
    FaultStep,
    parse_header,
    parse_script,
    parse_step,
)
from mistral_queue.dev.emulator.ratelimit import RpsLimiter


class FaultController:
    """Run-level faults plus the per-body marker counters."""

    def __init__(self, faults: RunFaults) -> None:
        self.faults = faults
        self._queue: deque[FaultStep] = deque()
        self._markers: dict[str, int] = {}
        self._rng = random.Random(faults.seed)
        self._rps = RpsLimiter()
        self.reset(faults)

    def reset(self, faults: RunFaults) -> None:
        """Forget every counter and queued step; start again from ``faults``."""
        self._queue.clear()
        self._markers.clear()
        self._rng = random.Random(faults.seed)
        self._rps = RpsLimiter()
        self.faults = self._enqueue(faults)

    def update(self, patch: dict[str, Any]) -> RunFaults:
        """Apply a partial ``RunFaults``; ``fail_next``/``script`` add steps to the queue.

        Raises:
            pydantic.ValidationError: when a field is invalid.
            FaultSyntaxError: when ``fail_with`` or a ``script`` step is malformed.
        """
        merged = RunFaults.model_validate({**self.faults.model_dump(), **patch})
        if "seed" in patch:
            self._rng = random.Random(merged.seed)
        self.faults = self._enqueue(merged)
        return self.faults

    def pending(self) -> list[str]:
        """The queued steps, next first."""
        return [step.describe() for step in self._queue]

    def decide(
        self, path: str, header: str | None, marker_key: str, marker: str | None
    ) -> tuple[FaultStep, str]:
        """The step for one call and where it came from (``header``, ``marker``, ``script``,
        ``storm``, ``rps`` or ``""``); run-level latency is added to it.

        Raises:
            FaultSyntaxError: when the header or the marker is malformed.
        """
        step, source = OK, ""
        if header:
            step, source = parse_header(header), "header"
        elif marker is not None:
            step, source = self._marker_step(marker_key, marker), "marker"
        if not self._applies(path):
            return step, source if step != OK else ""
        if step == OK:
            step, source = self._run_level_step()
        if step.outcome == "ok":
            wait = self._rps.admit(time.monotonic(), self.faults.rps_limit)
            if wait is not None:
                step, source = replace(step, status=429, retry_after=wait), "rps"
        latency = step.latency_ms + self.faults.latency_ms
        return replace(step, latency_ms=latency), source if step != OK else ""

    def _marker_step(self, key: str, marker: str) -> FaultStep:
        steps = parse_script(marker)
        count = self._markers.get(key, 0)
        self._markers[key] = count + 1
        return steps[count] if count < len(steps) else OK

    def _run_level_step(self) -> tuple[FaultStep, str]:
        if self._queue:
            return self._queue.popleft(), "script"
        faults = self.faults
        if faults.drop_rate or faults.error_rate:
            draw = self._rng.random()
            if draw < faults.drop_rate:
                return FaultStep(drop=True), "storm"
            if draw < faults.drop_rate + faults.error_rate and faults.error_statuses:
                return FaultStep(status=self._rng.choice(faults.error_statuses)), "storm"
        return OK, ""

    def _applies(self, path: str) -> bool:
        prefixes = self.faults.paths
        return not prefixes or any(path.startswith(prefix) for prefix in prefixes)

    def _enqueue(self, faults: RunFaults) -> RunFaults:
        steps = [parse_step(faults.fail_with)] * faults.fail_next
        steps += [parse_step(text) for text in faults.script]
        self._queue.extend(steps)
        return faults.model_copy(update={"fail_next": 0, "script": []})
