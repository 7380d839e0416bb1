"""Embeddings and OCR jobs end to end: wall time, upstream calls and result-line throughput.

Runs our whole stack as local processes (``dev.stack.launch``: private redis-server,
emulator, API, one worker) and, per run, submits one embeddings job of ``--inputs`` texts
(split into calls of ``MQ_EMBEDDINGS_INPUTS_PER_REQUEST``) and one OCR job of ``--pages``
listed pages (calls of ``MQ_OCR_PAGES_PER_REQUEST``), waits for each to end, then reads
``GET /v1/jobs/{id}/results`` back and checks the line count. The baseline of the
embeddings row makes the same calls directly to the emulator, one after the other (what a
client doing it by hand would wait, with no queue, retries or stored results).

    .venv/bin/python -m bench.endpoint_jobs --runs 3
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Mapping

import httpx

from bench.common import BenchError, Deadline, Row, common_args, report
from mistral_queue.dev.stack import LocalStack, launch


def _wait(client: httpx.Client, job_id: str, deadline: Deadline) -> dict[str, object]:
    while True:
        deadline.check(f"job {job_id}")
        job: dict[str, object] = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            if job["status"] != "succeeded":
                raise BenchError(f"job {job_id} ended {job['status']}: {job.get('error')}")
            return job
        time.sleep(0.05)


def _job(
    client: httpx.Client, body: Mapping[str, object], deadline: Deadline
) -> tuple[float, float, int]:
    """``(seconds to the end, seconds to read the results, result lines)`` of one job."""
    started = time.perf_counter()
    response = client.post("/v1/jobs", json=body)
    if response.status_code != 202:
        raise BenchError(f"submit failed: {response.status_code} {response.text[:200]}")
    job_id = response.json()["id"]
    _wait(client, job_id, deadline)
    ended = time.perf_counter()
    lines = client.get(f"/v1/jobs/{job_id}/results").text.count("\n")
    return ended - started, time.perf_counter() - ended, lines


def one_run(stack: LocalStack, inputs: int, pages: int, deadline: Deadline) -> dict[str, float]:
    headers = {"Authorization": f"Bearer {stack.api_key}"}
    texts = [f"document chunk number {i} about queues and workers" for i in range(inputs)]
    embeddings = {"type": "embeddings", "request": {"model": "mistral-embed", "input": texts}}
    document = {"type": "document_url", "document_url": f"https://x.test/doc.pdf?pages={pages}"}
    ocr = {"type": "ocr", "request": {"model": "mistral-ocr-latest", "document": document,
                                      "pages": list(range(pages))}}  # fmt: skip
    with httpx.Client(base_url=stack.api.url, headers=headers, timeout=120) as client:
        e_wall, e_read, e_lines = _job(client, embeddings, deadline)
        o_wall, o_read, o_lines = _job(client, ocr, deadline)
    if (e_lines, o_lines) != (inputs, pages):
        raise BenchError(f"expected {inputs} and {pages} lines, got {e_lines} and {o_lines}")
    with httpx.Client(base_url=stack.emulator.url, headers={"Authorization": "Bearer b"}) as up:
        started = time.perf_counter()
        for start in range(0, inputs, 128):
            part = {"model": "mistral-embed", "input": texts[start : start + 128]}
            up.post("/v1/embeddings", json=part, timeout=60).raise_for_status()
        direct = time.perf_counter() - started
    return {"e_wall": e_wall, "e_rate": inputs / e_read, "o_wall": o_wall, "direct": direct}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    common_args(parser, runs=3, timeout=600)
    parser.add_argument("--inputs", type=int, default=10_000)
    parser.add_argument("--pages", type=int, default=200)
    args = parser.parse_args()
    deadline = Deadline(args.timeout)
    rows = {
        "e_wall": Row(f"embeddings job, {args.inputs} inputs: submit to end, s", "—", digits=2),
        "e_rate": Row("embeddings results read back, lines/s", "—"),
        "o_wall": Row(f"OCR job, {args.pages} pages: submit to end, s", "—", digits=2),
    }
    baseline = rows["e_wall"].baseline
    stack = launch(env={}, workers=1, concurrency=8)
    try:
        for _ in range(args.runs):
            measured = one_run(stack, args.inputs, args.pages, deadline)
            for name, row in rows.items():
                row.ours.append(measured[name])
            baseline.append(measured["direct"])
    finally:
        stack.stop()
    notes = [
        "baseline of the embeddings row: the same 128-input calls made directly, in sequence",
        "calls per job: inputs / 128 for embeddings, pages / 8 for OCR (the defaults)",
    ]
    report("endpoint_jobs", "Embeddings and OCR jobs", list(rows.values()), notes)


if __name__ == "__main__":
    main()
