"""Agent jobs: an agents completion or a conversation, run step by step until the model is done.

A step is one upstream call (``tasks.agent.wire``). Each finished step is persisted on the job
(``progress`` plus a ``job.step`` event) before anything else happens, so a retry or a crash
resumes after the last finished step and a step that succeeded is never sent again; each step
has the whole retry budget. When the model calls functions, the worker answers the calls whose
tool carries a ``url`` itself (``tasks.agent.tool_calls``) and parks the job in ``requires_action``
for the others: the task returns, holding no worker slot, until the caller posts the results
(``POST /v1/jobs/{id}/tool-results``) and the job is queued again.

``result``: ``{"mode", "conversation_id", "outputs", "steps", "usage"}``: the last step's
outputs, every step's inputs and outputs in order, and the usage summed over the steps.
"""

from __future__ import annotations

import logging
import time
from functools import partial
from typing import Any

from celery import Task, shared_task
from kombu.exceptions import OperationalError

from mistral_queue.broker.names import RUN_TASKS
from mistral_queue.jobs import changes
from mistral_queue.jobs.agent import AgentProgress, Step, ToolCall, ToolResult
from mistral_queue.jobs.model import JobType
from mistral_queue.jobs.ownership import record_conversation
from mistral_queue.mistral.client import get_client
from mistral_queue.tasks.agent.errors import AgentError, StepLimitExceeded, ToolAttemptError
from mistral_queue.tasks.agent.stream import assemble_conversation
from mistral_queue.tasks.agent.tool_calls import call_tool, tool_request
from mistral_queue.tasks.agent.wire import Call, max_steps, mode_of, tool_urls, wire_for
from mistral_queue.tasks.base import JobRun, JobStopped, enqueue_callback, finish, record, run_job
from mistral_queue.tasks.chat_stream import Coalescer, assemble
from mistral_queue.webhooks.tenant_secrets import tenant_signing_keys

log = logging.getLogger(__name__)


class AwaitingResults(JobStopped):
    """Raised once the job is parked in ``requires_action``: the run ends, the job goes on."""


class AgentFailed(JobStopped):
    """Raised once an agent job was failed for an agent-level reason: the run ends."""


class AgentRunner:
    """One run of an agent job: from its persisted progress to the end, or to a wait."""

    def __init__(self, run: JobRun) -> None:
        self.run = run
        self.request = run.request
        mode = mode_of(self.request)
        self.wire = wire_for(mode)
        self.progress = AgentProgress.load(run.record.job.progress, mode)
        self.urls = tool_urls(self.request)
        self.max_steps = max_steps(self.request)

    def execute(self) -> dict[str, Any]:
        """Run steps until the model answers without tool calls; return the job's result.

        Raises:
            AwaitingResults: the job now waits for the caller's tool results.
            StepLimitExceeded: the model still calls tools after ``max_steps`` steps.
            ToolCallFailed: an HTTP tool did not answer.
            InvalidAgentResponse: an answer lacks what the next step needs.
            UpstreamError, DeferRetry, RateLimitWait, JobStopped: as for every job.
        """
        if not self.progress.steps:
            self._step(self.wire.first(self.request))
        while self.progress.open_calls:
            self._check_budget()
            self._answer_http_tools()
            waiting = self.progress.unanswered()
            if waiting:
                self._wait_for(waiting)
            self._step(self.wire.next(self.request, self.progress))
        return result(self.progress)

    def _step(self, call: Call) -> None:
        steps = self.progress.steps
        before = steps[-1].attempts if steps else 0
        # The limiter keys on the model (or agent); an append body names neither.
        limit_body = {k: self.request.get(k) for k in ("model", "agent_id")} | call.body
        answer = self.run.call(
            lambda n: self._fetch(call, n), body=limit_body, attempts_before=before
        )
        reply = self.wire.read(answer)
        if reply.conversation_id:
            record_conversation(self.run.rt.redis, self.run.tenant, reply.conversation_id)
        step = Step(
            step=len(steps) + 1,
            inputs=call.inputs,
            outputs=reply.outputs,
            usage=reply.usage,
            tool_calls=reply.tool_calls,
            conversation_id=reply.conversation_id,
            attempts=self.run.rt.store.attempts(self.run.job_id),
        )
        self.progress = self.progress.add_step(step)
        data = step.model_dump(mode="json")
        record(self.run, changes.agent_update("job.step", data, self.progress.dump()))

    def _fetch(self, call: Call, attempt: int) -> dict[str, Any]:
        """One attempt of ``call``: the JSON answer, or a streamed one put back together."""
        settings = self.run.rt.settings
        client = get_client(settings)
        request_id = self.run.request_id(attempt)
        if not call.body.get("stream"):
            return client.post(call.path, call.body, request_id=request_id).json
        step = len(self.progress.steps) + 1

        def emit(index: int, text: str) -> None:
            data = {"step": step, "index": index, "content": text, "attempt": attempt}
            # Fails with JobStopped once the job is cancelled, which closes the stream.
            self.run.apply(changes.agent_update("job.delta", data))

        coalescer = Coalescer(emit, settings.delta_interval_ms / 1000, settings.delta_max_chars)
        events = client.stream(call.path, call.body, request_id=request_id)
        if self.progress.mode == "conversation":
            return assemble_conversation(events, coalescer)
        return assemble(events, coalescer)

    def _check_budget(self) -> None:
        done = len(self.progress.steps)
        if done >= self.max_steps:
            calls = [c.model_dump(mode="json") for c in self.progress.open_calls]
            message = (
                f"the model still calls tools after {done} step(s); max_steps is {self.max_steps}"
            )
            raise StepLimitExceeded(message, {"max_steps": self.max_steps, "tool_calls": calls})

    def _answer_http_tools(self) -> None:
        settings = self.run.rt.settings
        for call in self.progress.unanswered():
            url = self.urls.get(call.name)
            if url is None:
                continue
            self.run.check_deadline()
            request = tool_request(
                self.run.job_id,
                call,
                url,
                self.progress.conversation_id,
                tenant=self.run.tenant,
                keys=tuple(tenant_signing_keys(self.run.rt.redis, settings, self.run.tenant)),
            )
            text, attempts = call_tool(request, settings, partial(self._tool_retrying, call))
            answer = ToolResult(tool_call_id=call.tool_call_id, result=text)
            self.progress = self.progress.add_results([answer])
            data = {"tool_call_id": call.tool_call_id, "name": call.name, "attempts": attempts}
            record(self.run, changes.agent_update("job.tool_result", data, self.progress.dump()))

    def _tool_retrying(
        self, call: ToolCall, attempt: int, error: ToolAttemptError, delay: float
    ) -> None:
        data = {
            "tool_call_id": call.tool_call_id,
            "name": call.name,
            "attempt": attempt,
            "status_code": error.status_code,
            "error": str(error),
            "delay": round(delay, 3),
        }
        # Fails with JobStopped once the job was cancelled, which ends the retries.
        self.run.apply(changes.agent_update("job.tool_retrying", data))

    def _wait_for(self, waiting: list[ToolCall]) -> None:
        now = time.time()
        respond_by = now + self.run.rt.settings.requires_action_timeout_seconds
        deadline = self.run.record.deadline
        rounds = self.progress.rounds + 1
        self.progress = self.progress.model_copy(update={"rounds": rounds})
        change = changes.requires_action(
            calls=[c.model_dump(mode="json") for c in waiting],
            progress=self.progress.dump(),
            round_=rounds,
            respond_by=respond_by,
            watch_until=respond_by if deadline is None else min(respond_by, deadline),
        )
        record(self.run, change)
        if self.run.record.job.callback.url:
            try:
                enqueue_callback(self.run.task, self.run.job_id)
            except OperationalError as exc:
                # The callback is in the callbacks-due set: the sweep sends it.
                log.warning("job %s: could not publish its callback (%s)", self.run.job_id, exc)
        raise AwaitingResults(f"job {self.run.job_id} waits for {len(waiting)} tool result(s)")


def result(progress: AgentProgress) -> dict[str, Any]:
    """The job's result: the final outputs, the conversation, every step, the summed usage."""
    return {
        "mode": progress.mode,
        "conversation_id": progress.conversation_id,
        "outputs": progress.steps[-1].outputs,
        "steps": [step.model_dump(mode="json") for step in progress.steps],
        "usage": progress.usage,
    }


def run_agent(run: JobRun) -> dict[str, Any]:
    """Run the agent job of ``run``; an agent-level failure fails the job with its error."""
    try:
        return AgentRunner(run).execute()
    except AgentError as exc:
        finish(run, changes.fail(exc.to_dict()))
        raise AgentFailed(str(exc)) from exc


@shared_task(bind=True, name=RUN_TASKS[JobType.AGENT], max_retries=None)
def run(self: Task[Any, Any], job_id: str) -> None:
    """Run (or resume) the agent job ``job_id``."""
    run_job(self, job_id, run_agent)
