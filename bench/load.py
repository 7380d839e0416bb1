"""Load generators, loopback only and bounded in time and count: wrk (Debian's ``wrk``
package, with a Lua script for the POST body) or an asyncio httpx generator when wrk is absent.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from bench.common import BenchError, Deadline, percentile

#: wrk's Lua: one JSON body, a count of unexpected statuses, a per-thread request cap, and a
#: machine-readable last line (wrk's Lua API: setup/response/done, ``thread:get``).
WRK_LUA = """
wrk.method = "POST"
wrk.body = [==[%(body)s]==]
%(headers)s
local threads = {}
function setup(thread) table.insert(threads, thread) end
count, unexpected = 0, 0
function response(status, headers, body)
  count = count + 1
  if status ~= %(expect)d then unexpected = unexpected + 1 end
  if count >= %(cap)d then wrk.thread:stop() end
end
function done(summary, latency, requests)
  local bad = 0
  for _, t in ipairs(threads) do bad = bad + t:get("unexpected") end
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests": %%d, "duration_us": %%d, "unexpected": %%d, ' ..
    '"errors": %%d, "p50_us": %%d, "p99_us": %%d, "max_us": %%d}\\n', summary.requests,
    summary.duration, bad, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
"""


@dataclass
class LoadResult:
    """What one load run saw: counts, seconds and latencies in milliseconds."""

    requests: int
    seconds: float
    unexpected: int
    errors: int
    p50_ms: float
    p99_ms: float
    max_ms: float

    @property
    def rps(self) -> float:
        """Answers per second."""
        return self.requests / self.seconds if self.seconds else 0.0


def _loopback(url: str) -> None:
    if urlsplit(url).hostname not in ("127.0.0.1", "localhost", "::1"):
        raise BenchError(f"refusing to load a non-loopback address: {url}")


def have_wrk() -> bool:
    """Whether ``wrk`` is on PATH (``apt-get install wrk``)."""
    return shutil.which("wrk") is not None


def run_wrk(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    connections: int,
    seconds: float,
    cap: int,
    expect: int = 202,
) -> LoadResult:
    """Run ``wrk -t1 -c<connections> -d<seconds>s --latency`` POSTing ``body`` to ``url``.

    Raises:
        BenchError: the address is not loopback, or wrk printed no result.
    """
    _loopback(url)
    header_lines = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items())
    script = WRK_LUA % {
        "body": body.decode(),
        "headers": header_lines,
        "expect": expect,
        "cap": cap,
    }
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    argv = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--latency",
        "--timeout",
        "10s",
        "-s",
        handle.name,
        url,
    ]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30)
    finally:
        Path(handle.name).unlink()
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("WRKJSON ")), None)
    if line is None:
        raise BenchError(f"wrk gave no result: {done.stdout[-500:]} {done.stderr[-500:]}")
    data = json.loads(line.removeprefix("WRKJSON "))
    return LoadResult(
        data["requests"],
        data["duration_us"] / 1e6,
        data["unexpected"],
        data["errors"],
        data["p50_us"] / 1e3,
        data["p99_us"] / 1e3,
        data["max_us"] / 1e3,
    )


async def _httpx_load(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    connections: int,
    seconds: float,
    cap: int,
    expect: int,
) -> LoadResult:
    latencies: list[float] = []
    counts = {"unexpected": 0, "errors": 0}
    stop_at = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)

    async def one_connection(client: httpx.AsyncClient) -> None:
        while time.monotonic() < stop_at and len(latencies) + counts["errors"] < cap:
            started = time.perf_counter()
            try:
                response = await client.post(url, content=body, headers=dict(headers))
            except httpx.HTTPError:
                counts["errors"] += 1
                continue
            latencies.append((time.perf_counter() - started) * 1000)
            counts["unexpected"] += response.status_code != expect

    started = time.monotonic()
    async with httpx.AsyncClient(limits=limits, timeout=10) as client:
        await asyncio.gather(*(one_connection(client) for _ in range(connections)))
    elapsed = time.monotonic() - started
    if not latencies:
        raise BenchError(f"no answers from {url}")
    return LoadResult(
        len(latencies),
        elapsed,
        counts["unexpected"],
        counts["errors"],
        percentile(latencies, 50),
        percentile(latencies, 99),
        max(latencies),
    )


def run_load(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    connections: int,
    seconds: float,
    cap: int,
    tool: str = "wrk",
    expect: int = 202,
) -> LoadResult:
    """Load ``url`` with ``tool`` (``wrk``, else the httpx generator) for ``seconds``."""
    if tool == "wrk" and have_wrk():
        return run_wrk(
            url, body, headers, connections=connections, seconds=seconds, cap=cap, expect=expect
        )
    _loopback(url)
    return asyncio.run(_httpx_load(url, body, headers, connections, seconds, cap, expect))


async def _fill(
    url: str,
    make_body: Callable[[int], bytes],
    headers: Mapping[str, str],
    count: int,
    concurrency: int,
    deadline: Deadline,
) -> list[str]:
    ids: list[str] = []
    next_index = iter(range(count))
    limits = httpx.Limits(max_connections=concurrency)

    async def one_connection(client: httpx.AsyncClient) -> None:
        for index in next_index:
            deadline.check("submitting jobs")
            response = await client.post(url, content=make_body(index), headers=dict(headers))
            if response.status_code != 202:
                raise BenchError(f"submit answered {response.status_code}: {response.text}")
            ids.append(response.json()["id"])

    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        await asyncio.gather(*(one_connection(client) for _ in range(concurrency)))
    return ids


def fill(
    url: str,
    make_body: Callable[[int], bytes],
    headers: Mapping[str, str],
    count: int,
    deadline: Deadline,
    concurrency: int = 32,
) -> list[str]:
    """POST ``count`` jobs (``make_body(i)``) and return their ids; every answer must be 202.

    Raises:
        BenchError: an answer was not 202, or the deadline passed.
    """
    _loopback(url)
    return asyncio.run(_fill(url, make_body, headers, count, concurrency, deadline))
