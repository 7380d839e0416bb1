"""The fault step grammar shared by the header, the body marker and the admin API.

A *step* says what happens to one call::

    step    := action ("+" action)*
    action  := "ok" | "drop" | "cut" | "stream_error" | "latency=" MS | STATUS (":" param)*
    param   := SECONDS | "retry_after=" SECONDS | "capacity"

``drop`` closes the connection without a response, ``cut`` sends the status line and part of
the body then closes it, ``stream_error`` lets the call succeed but ends a stream with an
error (chat: ``finish_reason: "error"``; conversations: ``conversation.response.error``),
``STATUS`` (400-599) answers Mistral's error body for that status
(a bare number after ``429:`` is the ``Retry-After`` in seconds). Examples: ``503``,
``429:retry_after=2``, ``429:1``, ``429:capacity``, ``latency=300+ok``, ``latency=50+drop``.

The header ``x-emulator-fault`` carries one step (``,`` works like ``+``). The marker
``[[fault:STEP,STEP,...]]`` in the last user message scripts successive calls with the same
body: the first gets the first step, and so on; once the steps run out, calls succeed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from mistral_queue.dev.emulator.errors import FaultSyntaxError

#: Request header carrying one fault step for this call only.
FAULT_HEADER = "x-emulator-fault"

_MARKER = re.compile(r"\[\[fault:([^\]]*)\]\]")
_STATUS = re.compile(r"^([45]\d\d)((?::[^:]+)*)$")
_NUMBER = re.compile(r"^\d+(?:\.\d+)?$")


@dataclass(frozen=True)
class FaultStep:
    """What to do with one call; the default instance lets it through untouched."""

    status: int | None = None
    #: Seconds for ``Retry-After``; None means the default for a 429 and none otherwise.
    retry_after: float | None = None
    capacity: bool = False
    drop: bool = False
    cut: bool = False
    stream_error: bool = False
    latency_ms: float = 0.0

    @property
    def outcome(self) -> str:
        """``ok``, ``error``, ``drop`` or ``cut``."""
        if self.drop:
            return "drop"
        if self.cut:
            return "cut"
        return "ok" if self.status is None else "error"

    def describe(self) -> str:
        """The step in the grammar above, e.g. ``latency=300+429:retry_after=2``."""
        parts = [f"latency={self.latency_ms:g}"] if self.latency_ms else []
        if self.status is not None:
            status = str(self.status)
            if self.retry_after is not None:
                status += f":retry_after={self.retry_after:g}"
            parts.append(status + (":capacity" if self.capacity else ""))
        parts += ["drop"] * self.drop + ["cut"] * self.cut + ["stream_error"] * self.stream_error
        return "+".join(parts) or "ok"


OK = FaultStep()


def parse_step(text: str) -> FaultStep:
    """Parse one step (``+``-joined actions).

    Raises:
        FaultSyntaxError: on an unknown action or two actions that both answer the call.
    """
    step = OK
    for action in (a.strip() for a in text.split("+")):
        step = _merge(step, _parse_action(action), text)
    return step


def parse_header(value: str) -> FaultStep:
    """Parse the ``x-emulator-fault`` header: one step, ``,`` allowed between actions."""
    return parse_step(value.replace(",", "+"))


def parse_script(text: str) -> list[FaultStep]:
    """Parse a ``,``-separated list of steps, as in a body marker."""
    return [parse_step(part) for part in text.split(",")]


def find_marker(text: str) -> str | None:
    """The inside of the first ``[[fault:...]]`` marker in ``text``, if any."""
    match = _MARKER.search(text)
    return match.group(1) if match else None


def strip_markers(text: str) -> str:
    """``text`` without fault markers, so answers do not echo them."""
    return _MARKER.sub("", text).strip()


def _parse_action(action: str) -> FaultStep:
    if action in ("", "ok"):
        return OK
    if action in ("drop", "cut", "stream_error"):
        return FaultStep(
            drop=action == "drop", cut=action == "cut", stream_error=action == "stream_error"
        )
    if action.startswith("latency="):
        value = action.removeprefix("latency=")
        if not _NUMBER.match(value):
            raise FaultSyntaxError(f"bad latency in fault action {action!r}")
        return FaultStep(latency_ms=float(value))
    match = _STATUS.match(action)
    if not match:
        raise FaultSyntaxError(f"unknown fault action {action!r}")
    step = FaultStep(status=int(match.group(1)))
    for param in filter(None, match.group(2).split(":")):
        step = _apply_param(step, param, action)
    return step


def _apply_param(step: FaultStep, param: str, action: str) -> FaultStep:
    if param == "capacity":
        return replace(step, capacity=True)
    value = param.removeprefix("retry_after=")
    if not _NUMBER.match(value):
        raise FaultSyntaxError(f"unknown parameter {param!r} in fault action {action!r}")
    return replace(step, retry_after=float(value))


def _merge(left: FaultStep, right: FaultStep, text: str) -> FaultStep:
    if left.outcome != "ok" and right.outcome != "ok":
        raise FaultSyntaxError(f"fault step {text!r} answers the call twice")
    base = right if right.outcome != "ok" else left
    return replace(
        base,
        latency_ms=left.latency_ms + right.latency_ms,
        stream_error=left.stream_error or right.stream_error,
    )
