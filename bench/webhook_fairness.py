"""Webhook fairness (issue 14): callbacks to 100 endpoints of which 10 hang, against the same
run with none hanging: the rate delivered to the 90 healthy ones must stay within 10 %.

``python -m bench.webhook_fairness [--runs 3] [--jobs 100] [--endpoints 100] [--hanging 10]
[--workers 2] [--concurrency 32] [--timeout 900]``

Each run starts a fresh local stack, registers ``--endpoints`` endpoints (one port each on an
asyncio sink in this process, 127.0.0.1 only), and submits ``--jobs`` chat jobs without a
``callback_url``: each job fans out to every endpoint, so 100 jobs make 10,000 callbacks.
The first ``--hanging`` ports read the request and never answer (baseline run: they answer
like the rest). The clock runs from the first submission until the measured endpoints (the
ones that never hang) have every delivery; the rate is their deliveries per second.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import threading
import time

import httpx

from bench.common import BenchError, Deadline, Row, common_args, console, report
from mistral_queue.dev.stack import LocalStack, launch

ANSWER = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"


class Sink:
    """Asyncio servers on ``count`` ports in a thread; the first ``hanging`` never answer."""

    def __init__(self, count: int, hanging: int) -> None:
        self.hanging = hanging
        self.sockets = [socket.create_server(("127.0.0.1", 0)) for _ in range(count)]
        self.ports = [s.getsockname()[1] for s in self.sockets]
        self.received = [0] * count
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        for index, sock in enumerate(self.sockets):
            asyncio.run_coroutine_threadsafe(self._serve(index, sock), self.loop).result()

    async def _serve(self, index: int, sock: socket.socket) -> None:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while True:
                    head = await reader.readuntil(b"\r\n\r\n")
                    length = 0
                    for line in head.split(b"\r\n"):
                        if line.lower().startswith(b"content-length:"):
                            length = int(line.split(b":", 1)[1])
                    await reader.readexactly(length)
                    self.received[index] += 1
                    if index < self.hanging:
                        await reader.read()  # until the client gives up
                        return
                    writer.write(ANSWER)
                    await writer.drain()
            except (asyncio.IncompleteReadError, ConnectionError):
                pass
            finally:
                writer.close()

        await asyncio.start_server(handle, sock=sock)

    def measured(self) -> int:
        """Deliveries to the endpoints that never hang."""
        return sum(self.received[self.hanging :])

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)


def one_run(args: argparse.Namespace, hanging: int, deadline: Deadline) -> float:
    """One fresh stack; returns deliveries per second to the never-hanging endpoints."""
    env = {"MQ_CALLBACK_TIMEOUT": "5", "MQ_CALLBACK_RETRY_DELAYS": "5,30",
           "MQ_CALLBACK_ALLOW_HOSTS": "127.0.0.1"}  # fmt: skip
    sink = Sink(args.endpoints, hanging)
    local: LocalStack = launch(env=env, workers=args.workers, concurrency=args.concurrency)
    try:
        headers = {"Authorization": f"Bearer {local.api_key}"}
        with httpx.Client(base_url=local.api.url, headers=headers, timeout=30) as api:
            for port in sink.ports:
                api.post("/v1/endpoints", json={"url": f"http://127.0.0.1:{port}/hook"})
            want = args.jobs * (args.endpoints - args.hanging)
            started = time.monotonic()
            for i in range(args.jobs):
                body = {"type": "chat", "request": {"model": "mistral-small-latest",
                        "messages": [{"role": "user", "content": f"fair {i}"}]}}  # fmt: skip
                response = api.post("/v1/jobs", json=body)
                if response.status_code != 202:
                    raise BenchError(f"submit failed: {response.status_code} {response.text}")
            while sink.measured() < want:
                deadline.check(f"delivery ({sink.measured()}/{want})")
                time.sleep(0.05)
            return float(want) / (time.monotonic() - started)
    finally:
        local.stop()
        sink.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common_args(parser, runs=3, timeout=900)
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--endpoints", type=int, default=100)
    parser.add_argument("--hanging", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    deadline = Deadline(args.timeout)
    row = Row("deliveries/s to the healthy endpoints", "≥ 0.90× baseline", digits=1)
    for run in range(args.runs):
        row.baseline.append(one_run(args, 0, deadline))
        row.ours.append(one_run(args, args.hanging, deadline))
        console.print(f"run {run + 1}: none hanging {row.baseline[-1]:.1f}/s, "
                      f"{args.hanging} hanging {row.ours[-1]:.1f}/s")  # fmt: skip
    total = args.jobs * args.endpoints
    notes = [
        f"{total:,} callbacks per run ({args.jobs} jobs × {args.endpoints} endpoints), "
        f"{args.hanging} endpoints hang in 'ours'; {args.workers} workers × "
        f"{args.concurrency} threads; MQ_CALLBACK_TIMEOUT=5",
        "baseline = the same run with no endpoint hanging; measured: the same "
        f"{args.endpoints - args.hanging} endpoints in both",
    ]
    report("webhook_fairness", "Webhook fairness: hanging endpoints", [row], notes)


if __name__ == "__main__":
    main()
