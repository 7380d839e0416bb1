"""What every benchmark shares: time bounds, min/median/max tables, machine facts, process stats.

Each benchmark prints one table per invocation: for each metric the target, the baseline and
ours as min / median / max over the runs, and the ratio of the medians. The same table is
written as Markdown to ``bench/out/<name>-<time>.md`` for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

from rich.console import Console
from rich.table import Table

from mistral_queue.dev.processes import redis_server_binary
from mistral_queue.errors import MistralQueueError

OUT_DIR = Path(__file__).parent / "out"
console = Console()
#: The machine's load when the benchmark started: others' work skews every figure.
START_LOAD = os.getloadavg()


class BenchError(MistralQueueError):
    """Raised when a benchmark run cannot finish: a time bound passed or a check failed."""


@dataclass
class Deadline:
    """A hard bound on a whole benchmark invocation, seconds from its creation."""

    seconds: float
    end: float = 0.0

    def __post_init__(self) -> None:
        self.end = time.monotonic() + self.seconds

    def left(self) -> float:
        """Seconds left (never below zero)."""
        return max(0.0, self.end - time.monotonic())

    def check(self, what: str) -> None:
        """Raises BenchError when the bound has passed."""
        if self.left() <= 0:
            raise BenchError(f"time bound of {self.seconds:.0f} s reached during {what}")


def common_args(parser: argparse.ArgumentParser, runs: int, timeout: float) -> None:
    """Add the flags every benchmark has: ``--runs``, ``--timeout``, ``--profile``."""
    parser.add_argument("--runs", type=int, default=runs, help="runs of each side (>= 3)")
    parser.add_argument(
        "--timeout", type=float, default=timeout, help="hard bound on the whole invocation, s"
    )
    parser.add_argument(
        "--profile", action="store_true", help="also py-spy our process during the last run"
    )


def spread(values: Sequence[float]) -> tuple[float, float, float]:
    """(min, median, max) of ``values``."""
    return min(values), statistics.median(values), max(values)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by the nearest-rank method."""
    ordered = sorted(values)
    rank = max(1, round(q / 100 * len(ordered) + 0.5 - 1e-9))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass
class Row:
    """One metric: its target and the per-run values of each side."""

    metric: str
    target: str
    ours: list[float] = field(default_factory=list)
    baseline: list[float] = field(default_factory=list)
    #: Decimals shown.
    digits: int = 0

    def cell(self, values: list[float]) -> str:
        if not values:
            return "—"
        return " / ".join(f"{v:,.{self.digits}f}" for v in spread(values))

    def ratio(self) -> str:
        if not self.ours or not self.baseline or not statistics.median(self.baseline):
            return "—"
        return f"{statistics.median(self.ours) / statistics.median(self.baseline):.2f}×"


def report(name: str, title: str, rows: Sequence[Row], notes: Sequence[str] = ()) -> Path:
    """Print the table and write it as Markdown; returns the Markdown file."""
    table = Table(title=title, caption="min / median / max over the runs")
    for header in ("metric", "target", "baseline", "ours", "ours/baseline"):
        table.add_column(header, justify="left" if header == "metric" else "right")
    for row in rows:
        table.add_row(
            row.metric, row.target, row.cell(row.baseline), row.cell(row.ours), row.ratio()
        )
    console.print(table)
    lines = [f"### {title}", "", machine_line(), ""]
    lines += ["| metric | target | baseline | ours | ours/baseline |", "|---|---|---|---|---|"]
    lines += [
        f"| {r.metric} | {r.target} | {r.cell(r.baseline)} | {r.cell(r.ours)} | {r.ratio()} |"
        for r in rows
    ]
    start, end = (" / ".join(f"{v:.1f}" for v in loads) for loads in (START_LOAD, os.getloadavg()))
    notes = [*notes, f"load average (1/5/15 min): {start} at start, {end} at the end"]
    lines += ["", *[f"- {note}" for note in notes], ""]
    for note in notes:
        console.print(f"  • {note}")
    OUT_DIR.mkdir(exist_ok=True)
    path = OUT_DIR / f"{name}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.md"
    path.write_text("\n".join(lines))
    console.print(f"[dim]written to {path}[/dim]")
    return path


def _cpu_model() -> str:
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    except OSError:
        return platform.processor()
    found = re.search(r"Model name:\s*(.+)", text)
    return found.group(1).strip() if found else platform.processor()


def machine_line() -> str:
    """Date, CPU, core count and the versions that matter, on one line."""
    server = subprocess.run(
        [redis_server_binary(), "--version"], capture_output=True, text=True, check=False
    ).stdout
    redis_version = re.search(r"v=(\S+)", server)
    packages = ("celery", "kombu", "redis", "fastapi", "uvicorn", "httpx", "orjson")
    versions = ", ".join(f"{p} {version(p)}" for p in packages)
    return (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC · {os.cpu_count()} × {_cpu_model()} · "
        f"Python {platform.python_version()} · redis-server "
        f"{redis_version.group(1) if redis_version else '?'} · {versions}"
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its waited-for children (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(v) for v in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> tuple[float, float]:
    """(current, peak) resident set size of ``pid`` in MiB (VmRSS, VmHWM)."""
    status = Path(f"/proc/{pid}/status").read_text()
    values = {}
    for key in ("VmRSS", "VmHWM"):
        found = re.search(rf"{key}:\s*(\d+) kB", status)
        values[key] = int(found.group(1)) / 1024 if found else 0.0
    return values["VmRSS"], values["VmHWM"]
