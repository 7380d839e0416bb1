"""py-spy profiles of a benchmarked process, and where their time goes.

``python -m bench.profile FILE.folded [--top N]`` prints the summary of a recorded profile:
for the functions seen most, the share of samples they are on the stack (inclusive) and at
its top (self). Benchmarks record with ``--profile``; ``py-spy`` is ``pip install py-spy``.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from rich.table import Table

from bench.common import OUT_DIR, console


@dataclass
class Recording:
    """A py-spy run sampling one process into a collapsed-stack file."""

    popen: subprocess.Popen[bytes]
    path: Path

    def wait(self, timeout: float) -> Path | None:
        """Wait for py-spy to write its file; None when it failed or timed out."""
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(5)
            return None
        return self.path if self.path.exists() else None


def record(pid: int, seconds: float, name: str, *, gil: bool = False) -> Recording | None:
    """Start sampling ``pid`` for ``seconds``: idle threads excluded, and with ``gil`` only the
    thread holding the GIL (where a threads-pool worker's one core of CPU goes)."""
    binary = Path(sys.executable).parent / "py-spy"
    found = str(binary) if binary.exists() else shutil.which("py-spy")
    if not found:
        console.print("[yellow]py-spy is not installed (pip install py-spy): no profile[/yellow]")
        return None
    OUT_DIR.mkdir(exist_ok=True)
    path = OUT_DIR / f"{name}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.folded"
    argv = [found, "record", "--pid", str(pid), "--duration", str(max(1, round(seconds))),
            "--rate", "250", "--nonblocking", "--format", "raw", "--output", str(path),
            *(["--gil"] if gil else [])]  # fmt: skip
    popen = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return Recording(popen, path)


#: Files of start-up frames under every sample (the CLI, uvicorn's runner, thread bootstrap).
PLUMBING = (
    "<frozen runpy>",
    "typer/",
    "click/",
    "mistral_queue/cli.py",
    "uvicorn/main.py",
    "uvicorn/server.py",
    "uvicorn/_compat.py",
    "asyncio/runners.py",
    "threading.py",
    "celery/bin/",
    "celery/apps/",
    "celery/worker/worker.py",
    "celery/bootsteps.py",
)


def _frame_name(frame: str) -> str | None:
    # py-spy raw frames look like "function (path/to/module.py:123)": keep the function and the
    # last two path parts, and drop start-up plumbing.
    name, _, where = frame.partition(" (")
    path = where.rsplit(":", 1)[0]
    if path.startswith(PLUMBING) or "/".join(path.split("/")[-2:]).startswith(PLUMBING):
        return None
    short = "/".join(path.split("/")[-2:])
    return f"{name} ({short})" if short else name


#: Leaf frames of threads that only wait (py-spy's ``--nonblocking`` cannot tell idle ones).
IDLE = {"Condition.wait", "Event.wait", "Queue.get", "select", "EpollSelector.select", "poll"}
#: Frames above this inclusive share are entry points (main, run loop), not news.
ENTRY_SHARE = 0.9
#: Where a sample with only plumbing frames is counted: the event loop (uvloop) or C code.
OUTSIDE = "(event loop / C code under start-up frames)"


def _counts(path: Path) -> tuple[Counter[str], Counter[str], int]:
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        frames = [n for f in stack.split(";") if (n := _frame_name(f))] or [OUTSIDE]
        if frames[-1].split(" (")[0] in IDLE:
            continue
        count = int(count_text)
        total += count
        for name in set(frames):
            inclusive[name] += count
        own[frames[-1]] += count
    return inclusive, own, total


def summarize(path: Path, top: int = 20) -> Table:
    """The ``top`` functions by inclusive share of busy samples, with their self share.

    Samples whose leaf only waits are dropped, and so are entry frames present in nearly
    every sample, so what is left says where the busy time goes.
    """
    inclusive, own, total = _counts(path)
    table = Table(title=f"{path.name}: {total} busy samples")
    for header in ("function (file)", "inclusive %", "self %"):
        table.add_column(header, justify="left" if header.startswith("function") else "right")
    shown = [(n, c) for n, c in inclusive.most_common() if c < ENTRY_SHARE * total][:top]
    for name, count in shown:
        table.add_row(name, f"{100 * count / total:.1f}", f"{100 * own[name] / total:.1f}")
    table.add_section()
    for name, count in own.most_common(top // 2):
        table.add_row(f"[dim]self:[/dim] {name}", f"{100 * inclusive[name] / total:.1f}",
                      f"{100 * count / total:.1f}")  # fmt: skip
    return table


def main() -> None:
    """Print the summary of each file given."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    for path in args.files:
        console.print(summarize(path, args.top))


if __name__ == "__main__":
    main()
