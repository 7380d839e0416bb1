"""The soak's moving parts: a restartable webhook sink, the job mix and the chaos loops.

The sink is our own (not the dev receiver, which keeps only its last 1,000 deliveries): it
verifies each signature with the standardwebhooks library and counts deliveries per
webhook-id, and it can go down and come back on the same port for a receiver outage.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook

from mistral_queue.dev.processes import HOST, free_port
from mistral_queue.dev.stack import LocalStack


@dataclass
class Sink:
    """A webhook receiver on a fixed port that can be stopped and started again."""

    secret: str
    port: int = field(default_factory=free_port)
    #: Accepted deliveries per webhook-id.
    deliveries: Counter[str] = field(default_factory=Counter)
    #: Deliveries whose signature did not verify.
    bad_signatures: int = 0
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/soak"

    def start(self) -> None:
        """Listen (again) on the sink's port."""
        sink = self
        verifier = Webhook(self.secret)

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                try:
                    verifier.verify(body, dict(self.headers.items()))
                except Exception:
                    status = 401
                    with sink._lock:
                        sink.bad_signatures += 1
                else:
                    status = 200
                    with sink._lock:
                        sink.deliveries[self.headers["webhook-id"]] += 1
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer((HOST, self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        """Stop listening: deliveries fail with connection refused until ``start``."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


#: (share, user text, extra request fields): plain, streamed, upstream faults, a bad model.
MIX: list[tuple[float, str, dict[str, Any]]] = [
    (0.60, "soak plain {n}", {}),
    (0.15, "soak stream {n}", {"stream": True}),
    (0.10, "soak 503 {n} [[fault:503]]", {}),
    (0.05, "soak 429 {n} [[fault:429:1]]", {}),
    (0.05, "soak reset {n} [[fault:drop]]", {}),
    (0.05, "soak bad model {n}", {"model": "no-such-model"}),
]


def job_body(rng: random.Random, n: int, callback_url: str) -> dict[str, Any]:
    """The ``n``-th job of the mix (text unique per job, so fault markers apply once)."""
    shares = [share for share, _, _ in MIX]
    _, text, extra = rng.choices(MIX, weights=shares)[0]
    message = {"role": "user", "content": text.format(n=n)}
    request = {"model": "mistral-small-latest", "messages": [message], **extra}
    return {"type": "chat", "request": request, "callback_url": callback_url}


@dataclass
class Chaos:
    """Kills a random worker now and then, and takes the sink down now and then."""

    stack: LocalStack
    sink: Sink
    rng: random.Random
    kill_every: float
    outage_every: float
    outage_seconds: float
    concurrency: int
    kills: list[float] = field(default_factory=list)
    outages: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def run_kills(self) -> None:
        """SIGKILL a random worker every ~``kill_every`` s and start a fresh one."""
        while not self.stop.wait(self.rng.expovariate(1 / self.kill_every)):
            victim = self.stack.workers.pop(self.rng.randrange(len(self.stack.workers)))
            self.kills.append(time.time())
            victim.kill()
            self.stack.start_worker(concurrency=self.concurrency)

    def run_outages(self) -> None:
        """Every ~``outage_every`` s, stop the sink for ``outage_seconds``."""
        while not self.stop.wait(self.rng.uniform(0.5, 1.5) * self.outage_every):
            self.sink.stop()
            self.outages += 1
            self.stop.wait(self.outage_seconds)
            self.sink.start()

    def start(self) -> list[threading.Thread]:
        threads = [
            threading.Thread(target=self.run_kills, daemon=True),
            threading.Thread(target=self.run_outages, daemon=True),
        ]
        for thread in threads:
            thread.start()
        return threads
