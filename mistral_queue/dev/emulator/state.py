"""The emulator's in-memory state: the request log, usage window and fault controller.

Everything is touched only from the server's event loop; a log entry is appended in one
synchronous step, so concurrent requests never interleave inside it.
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request

from mistral_queue.dev.emulator.agents import AgentStore
from mistral_queue.dev.emulator.batch_jobs import BatchStore
from mistral_queue.dev.emulator.config import EmulatorConfig
from mistral_queue.dev.emulator.control import FaultController
from mistral_queue.dev.emulator.conversations import ConversationStore
from mistral_queue.dev.emulator.files import FileStore
from mistral_queue.dev.emulator.ratelimit import MinuteWindow


@dataclass(frozen=True)
class LogEntry:
    """One ``/v1/`` call as the emulator saw it."""

    seq: int
    #: ``time.monotonic()`` and ``time.time()`` when the request arrived, seconds.
    monotonic: float
    time: float
    method: str
    path: str
    #: HTTP status sent, None when the connection was dropped before a response.
    status: int | None
    #: ``ok`` (< 400), ``error`` (>= 400) or ``dropped`` (``drop`` and ``cut``).
    outcome: str
    #: The ``X-Request-ID`` request header, if any.
    request_id: str | None
    body_sha256: str
    duration_ms: float
    #: The injected fault step (``faults.py`` grammar) and its source, or None.
    fault: str | None = None
    fault_source: str | None = None
    stream: bool = False
    #: The W3C ``traceparent`` request header, if any (the caller's trace).
    traceparent: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The entry as served by ``GET /_emulator/requests``."""
        return asdict(self)


@dataclass(frozen=True)
class LogFilter:
    """Filters of ``GET /_emulator/requests``; None matches everything."""

    path: str | None = None
    path_prefix: str | None = None
    outcome: str | None = None
    status: int | None = None
    request_id: str | None = None
    body_sha256: str | None = None
    since_seq: int | None = None

    def matches(self, entry: LogEntry) -> bool:
        """Whether ``entry`` passes every set filter."""
        checks = (
            self.path is None or entry.path == self.path,
            self.path_prefix is None or entry.path.startswith(self.path_prefix),
            self.outcome is None or entry.outcome == self.outcome,
            self.status is None or entry.status == self.status,
            self.request_id is None or entry.request_id == self.request_id,
            self.body_sha256 is None or entry.body_sha256 == self.body_sha256,
            self.since_seq is None or entry.seq > self.since_seq,
        )
        return all(checks)


class RequestLog:
    """Bounded, ordered log of calls; ``seq`` keeps increasing across trims."""

    def __init__(self, limit: int) -> None:
        self._entries: deque[LogEntry] = deque(maxlen=limit)
        self._seq = itertools.count(1)

    def next_seq(self) -> int:
        """Reserve the sequence number of a call when it arrives."""
        return next(self._seq)

    def append(self, entry: LogEntry) -> None:
        """Record a finished call."""
        self._entries.append(entry)

    def query(self, where: LogFilter, limit: int | None = None) -> list[LogEntry]:
        """Matching entries in arrival (``seq``) order, at most ``limit`` of the latest."""
        found = sorted((e for e in self._entries if where.matches(e)), key=lambda e: e.seq)
        return found[-limit:] if limit else found

    def clear(self) -> None:
        """Forget every entry (sequence numbers keep increasing)."""
        self._entries.clear()


@dataclass
class EmulatorState:
    """Everything one emulator app holds; reachable as ``app.state.emulator``."""

    config: EmulatorConfig
    log: RequestLog = field(init=False)
    window: MinuteWindow = field(init=False)
    faults: FaultController = field(init=False)
    agents: AgentStore = field(default_factory=AgentStore)
    conversations: ConversationStore = field(default_factory=ConversationStore)
    files: FileStore = field(default_factory=FileStore)
    batches: BatchStore = field(default_factory=BatchStore)

    def __post_init__(self) -> None:
        self.log = RequestLog(self.config.log_limit)
        self.window = MinuteWindow()
        self.faults = FaultController(self.config.run_faults())

    def reset(self) -> None:
        """Back to the start-up state: empty log, fresh faults, empty stores."""
        self.log.clear()
        self.window = MinuteWindow()
        self.faults.reset(self.config.run_faults())
        self.agents.clear()
        self.conversations.clear()
        self.batches.clear()
        self.files.clear()

    def close(self) -> None:
        """Release what outlives requests: the files' temporary directory."""
        self.files.close()


def get_state(request: Request) -> EmulatorState:
    """FastAPI dependency: the state of the app serving ``request``."""
    state = request.app.state.emulator
    assert isinstance(state, EmulatorState)
    return state


StateDep = Annotated[EmulatorState, Depends(get_state)]
