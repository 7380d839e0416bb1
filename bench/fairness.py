"""Fair share (issue 16): the scheduler's Lua on a real redis-server under a simulated upstream.

``python -m bench.fairness [--runs 3] [--jobs 5000] [--slots 8]``

Every arrival and release goes through :class:`mistral_queue.tasks.scheduling.Scheduler` (the
same scripts the workers run) on a private redis-server; only time is simulated: a started job
runs for ``real tokens / 1,000`` s on one of ``--slots`` slots (the deployment's share of
Mistral's limit), its real usage being 30-100 % of its estimate (settled on release). Job
sizes are 200-2,000 ``max_tokens``. Scenarios:

- shares: both tenants flood ``--jobs`` jobs at t=0 with weights 1:1, then 3:1; the token
  share of A over the time both are backlogged, against its weight's share (target ±5 %).
- light wait: A floods ``--jobs`` jobs while B submits one job every 0.5 s (about a third
  of its share); B's queue-wait p99 with the flood, against B alone (target ≤ 2×).
- urgent: A has a backlog of ``2 × --jobs`` priority-5 jobs; one priority-9 job of A arrives
  every 2 s; their wait p99.
"""

from __future__ import annotations

import argparse
import heapq
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import redis

from bench.common import Row, common_args, percentile, report
from mistral_queue.config import Settings
from mistral_queue.config_values import TenantLimits
from mistral_queue.dev.processes import Stack, start_redis
from mistral_queue.jobs import keys
from mistral_queue.jobs.model import JobRecord, JobType, initial_fields, new_job_id
from mistral_queue.tasks.scheduling import Scheduler, job_estimate

#: Tokens one slot serves per simulated second.
SLOT_RATE = 1000.0
#: Mean real tokens of a job: (prompt ~20 + 1,100 max_tokens) x 65 %.
MEAN_TOKENS = 730.0
T0 = time.time()


@dataclass
class Sim:
    """One simulated deployment: the scheduler, the clock, and what ran."""

    sched: Scheduler
    client: redis.Redis
    rng: random.Random
    now: float = 0.0
    running: list[tuple[float, str]] = field(default_factory=list)
    jobs: dict[str, JobRecord] = field(default_factory=dict)
    arrived: dict[str, float] = field(default_factory=dict)
    started: dict[str, float] = field(default_factory=dict)
    tokens: dict[str, int] = field(default_factory=dict)

    def job(self, tenant: str, priority: int = 5) -> JobRecord:
        size = self.rng.randint(200, 2000)
        fields = initial_fields(
            job_id=new_job_id(), tenant=tenant, job_type=JobType.CHAT,
            request={"model": "m", "messages": [{"role": "user", "content": "x"}],
                     "max_tokens": size},
            metadata={}, callback_url=None, deadline=T0 + 1e9, priority=priority,
        )  # fmt: skip
        stamp = datetime.fromtimestamp(T0 + self.now, UTC).isoformat().replace("+00:00", "Z")
        record = JobRecord.from_hash({**fields, "created_at": stamp})
        self.jobs[record.id] = record
        return record

    def arrive(self, record: JobRecord, limits: TenantLimits) -> None:
        self.arrived[record.id] = self.now
        admission = self.sched.arrive(record, limits, T0 + self.now)
        if admission.run:
            self._start(record.id)
        for _, job_id in admission.started:
            self._start(job_id)

    def _start(self, job_id: str) -> None:
        self.started[job_id] = self.now
        used = int(job_estimate(self.jobs[job_id]) * self.rng.uniform(0.3, 1.0))
        self.tokens[job_id] = used
        heapq.heappush(self.running, (self.now + used / SLOT_RATE, job_id))

    def step(self) -> bool:
        """Finish the next running job (settling its usage); False when nothing runs."""
        if not self.running:
            return False
        self.now, job_id = heapq.heappop(self.running)
        self.client.hset(keys.job_usage(job_id), mapping={"prompt": self.tokens[job_id]})
        for _, started in self.sched.release(self.jobs[job_id], T0 + self.now):
            self._start(started)
        return True

    def run_until(self, until: float) -> None:
        while self.running and self.running[0][0] <= until:
            self.step()
        self.now = max(self.now, until)


def _sim(client: redis.Redis, slots: int, seed: int) -> Sim:
    client.flushdb()
    settings = Settings(max_running_jobs=slots, priority_aging_seconds=60.0)
    return Sim(Scheduler(client, settings, hold_seconds=1e9), client, random.Random(seed))


def shares(client: redis.Redis, args: argparse.Namespace, weight: float, seed: int) -> float:
    """A's token share over the time both tenants were backlogged, / its weight's share."""
    sim = _sim(client, args.slots, seed)
    limits = {"a": TenantLimits(weight=weight), "b": TenantLimits(weight=1)}
    for _ in range(args.jobs):
        for tenant in ("a", "b"):
            sim.arrive(sim.job(tenant), limits[tenant])
    while sim.step():
        pass
    last = {t: max(s for j, s in sim.started.items() if sim.jobs[j].tenant == t) for t in "ab"}
    until = min(last.values())
    served = {t: sum(sim.tokens[j] for j, s in sim.started.items()
                     if sim.jobs[j].tenant == t and s <= until) for t in "ab"}  # fmt: skip
    share = served["a"] / (served["a"] + served["b"])
    return share / (weight / (weight + 1))


def light_wait(client: redis.Redis, args: argparse.Namespace, flood: bool, seed: int) -> float:
    """B's queue-wait p99 (simulated ms) while submitting every 0.5 s, with or without A's flood."""
    sim = _sim(client, args.slots, seed)
    limits = TenantLimits()
    if flood:
        for _ in range(args.jobs):
            sim.arrive(sim.job("a"), limits)
    light = []
    # Submit for about the first half of the flood's run.
    horizon = 0.5 * args.jobs * MEAN_TOKENS / (SLOT_RATE * args.slots)
    for n in range(int(horizon / 0.5)):
        sim.run_until(n * 0.5)
        record = sim.job("b")
        light.append(record.id)
        sim.arrive(record, limits)
    while sim.step():
        pass
    return percentile([1000 * (sim.started[j] - sim.arrived[j]) for j in light], 99)


def urgent_wait(client: redis.Redis, args: argparse.Namespace, seed: int) -> float:
    """Priority-9 jobs' wait p99 (simulated ms) behind a backlog of 2 × --jobs of their tenant."""
    sim = _sim(client, args.slots, seed)
    limits = TenantLimits()
    for _ in range(2 * args.jobs):
        sim.arrive(sim.job("a"), limits)
    urgent = []
    for n in range(100):
        sim.run_until(n * 2.0)
        record = sim.job("a", priority=9)
        urgent.append(record.id)
        sim.arrive(record, limits)
    while sim.step():
        pass
    return percentile([1000 * (sim.started[j] - sim.arrived[j]) for j in urgent], 99)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common_args(parser, runs=3, timeout=1800)
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--slots", type=int, default=8)
    args = parser.parse_args()
    rows = [
        Row("weights 1:1: A's token share / its weight's share", "0.95-1.05", digits=3),
        Row("weights 3:1: A's token share / its weight's share", "0.95-1.05", digits=3),
        Row("light tenant's queue wait p99 (simulated ms)", "≤ 2× baseline", digits=0),
        Row(f"urgent jobs' wait p99 behind {2 * args.jobs:,} (simulated ms)", "—", digits=0),
        Row("scheduler calls per second (real, arrive + release)", "—", digits=0),
    ]
    stack = Stack()
    try:
        client = redis.Redis.from_url(start_redis(stack).url, decode_responses=True)
        for run in range(args.runs):
            begin = time.perf_counter()
            rows[0].ours.append(shares(client, args, 1.0, run))
            rows[1].ours.append(shares(client, args, 3.0, run))
            calls = 4 * args.jobs * 2
            rows[4].ours.append(calls / (time.perf_counter() - begin))
            rows[2].baseline.append(light_wait(client, args, False, run))
            rows[2].ours.append(light_wait(client, args, True, run))
            rows[3].ours.append(urgent_wait(client, args, run))
    finally:
        stack.stop_all()
    notes = [
        f"{args.slots} slots of {SLOT_RATE:,.0f} tokens/s each; jobs of 200-2,000 max_tokens,"
        " real usage 30-100 % of the estimate; baseline = the light tenant alone",
        "real redis-server and scheduler scripts, simulated upstream time (no HTTP, no Celery)",
    ]
    report("fairness", "Fair share: weights, light tenant, urgent jobs", rows, notes)


if __name__ == "__main__":
    main()
