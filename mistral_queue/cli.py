"""The ``mistral-queue`` command: run each part, submit jobs, or start everything with ``dev``."""

from __future__ import annotations

# First: ``worker --pool gevent`` must patch sockets before anything imports them (green.py).
import mistral_queue.green  # noqa: F401  # isort: skip

import ipaddress
import logging
import secrets
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from mistral_queue.cli_tenants import tenants_app
from mistral_queue.config import load_settings
from mistral_queue.errors import ConfigError, MistralQueueError

app = typer.Typer(
    help="A background job queue for the Mistral API with signed webhook callbacks.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)
app.add_typer(tenants_app, name="tenants")

Host = Annotated[str, typer.Option(help="Address to listen on.")]


def _fail(exc: Exception) -> typer.Exit:
    console.print(f"[red]error:[/red] {exc}")
    return typer.Exit(2)


@app.command()
def api(host: Host = "127.0.0.1", port: int = 8000, log_level: str = "info") -> None:
    """Serve the intake API with uvicorn."""
    import uvicorn

    try:
        load_settings().require("api_keys", "webhook_secret")
    except ConfigError as exc:
        raise _fail(exc) from None
    uvicorn.run(
        "mistral_queue.api.app:create_app",
        factory=True,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
    )


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def worker(
    ctx: typer.Context,
    queues: Annotated[str, typer.Option(help="Comma-separated queues to consume.")] = "",
    # 64 threads: a process is GIL-bound near 75 jobs/s here with 32, 64 or 128 (~11 ms CPU a
    # job, bench/RESULTS.md), and real upstream calls take seconds, so jobs in flight (rate ×
    # latency) need more threads than 32; past that, more threads only cost memory.
    concurrency: Annotated[int, typer.Option(help="Threads (greenlets) per worker.")] = 64,
    pool: Annotated[str, typer.Option(help="Pool: threads, gevent, prefork, solo.")] = "threads",
    hostname: Annotated[str, typer.Option(help="Node name; default unique per process.")] = "",
    loglevel: str = "INFO",
) -> None:
    """Run a Celery worker; flags it does not know go to Celery as they are."""
    from mistral_queue.broker.names import ALL_QUEUES

    try:
        load_settings().require("webhook_secret", "mistral_api_key")
        from mistral_queue.worker.celery_app import app as celery_app
    except ConfigError as exc:
        raise _fail(exc) from None
    # httpx logs every request at INFO: two lines a job that cost CPU and add nothing to the
    # task lines (bench/RESULTS.md, worker profile); its warnings and errors still show.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # A random suffix keeps node names unique when several workers share a host (compose --scale).
    node = hostname or f"worker-{secrets.token_hex(3)}@%h"
    argv = ["worker", "--pool", pool, "--concurrency", str(concurrency), "--hostname", node,
            "--queues", queues or ",".join(ALL_QUEUES), "--task-events", "--loglevel", loglevel,
            *ctx.args]  # fmt: skip
    celery_app.worker_main(argv)


def _is_loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@app.command()
def flower(host: Host = "127.0.0.1", port: int = 5555) -> None:
    """Run Flower on the same broker; basic auth from MQ_FLOWER_BASIC_AUTH."""
    settings = load_settings()
    argv = ["flower", f"--address={host}", f"--port={port}"]
    if settings.flower_basic_auth:
        argv.append(f"--basic_auth={settings.flower_basic_auth.get_secret_value()}")
    elif not _is_loopback(host):
        raise _fail(
            ConfigError("MQ_FLOWER_BASIC_AUTH is required to serve Flower beyond localhost")
        )
    from mistral_queue.broker.celery_config import create_celery

    create_celery(settings).start(argv)


Opt = typer.Option


@app.command()
def emulator(
    host: Host = "127.0.0.1",
    port: int = 8800,
    latency_ms: Annotated[float | None, Opt(help="Added latency per call, ms.")] = None,
    stream_chunk_delay_ms: Annotated[float | None, Opt(help="Delay between stream frames.")] = None,
    rps_limit: Annotated[float | None, Opt(help="Answer 429 above this rate.")] = None,
    fail_next: Annotated[int | None, Opt(help="Fail the next N calls with --fail-with.")] = None,
    fail_with: Annotated[str | None, Opt(help="Fault step, e.g. 503, 429:2, drop.")] = None,
    script: Annotated[str | None, Opt(help="Steps for the next calls: '503,drop,ok'.")] = None,
    error_rate: Annotated[float | None, Opt(help="Share of calls failed (storm).")] = None,
    error_statuses: Annotated[str | None, Opt(help="Statuses a storm uses: '429,503'.")] = None,
    drop_rate: Annotated[float | None, Opt(help="Share of connections dropped.")] = None,
    seed: Annotated[int | None, Opt(help="Seed of the fault RNG.")] = None,
    retry_after_seconds: Annotated[float | None, Opt(help="Retry-After of a 429.")] = None,
    api_keys: Annotated[str | None, Opt(help="Accepted keys (default: any).")] = None,
    batch_pace_seconds: Annotated[float | None, Opt(help="Seconds per batch step.")] = None,
    batch_outcome: Annotated[str | None, Opt(help="Force FAILED or TIMEOUT_EXCEEDED.")] = None,
) -> None:
    """Serve the Mistral-compatible emulator (faults: see the README)."""
    from mistral_queue.dev.emulator.server import build_config, serve

    options = dict(locals())
    for name in ("host", "port", "build_config", "serve"):
        options.pop(name, None)
    try:
        config = build_config(**options)
    except MistralQueueError as exc:
        raise _fail(exc) from None
    serve(host, port, config)


@app.command()
def receiver(host: Host = "127.0.0.1", port: int = 8900) -> None:
    """Serve a development webhook receiver that verifies and prints every callback.

    It accepts the signing secrets (as they are at its start) of every ``MQ_API_KEYS`` tenant.
    """
    from mistral_queue.dev.receiver import serve_receiver
    from mistral_queue.webhooks.tenant_secrets import static_tenant_keys

    settings = load_settings()
    try:
        settings.require("webhook_secret", "api_keys")
    except ConfigError as exc:
        raise _fail(exc) from None
    serve_receiver(host, port, static_tenant_keys(settings))


@app.command()
def submit(
    file: Annotated[Path | None, typer.Argument(help="A JSON job body ('-' for stdin).")] = None,
    model: str = "mistral-small-latest",
    message: Annotated[str | None, typer.Option(help="A user message (instead of FILE).")] = None,
    callback_url: str | None = None,
    api_url: Annotated[str, typer.Option(envvar="MQ_API_URL")] = "http://127.0.0.1:8000",
    api_key: Annotated[str | None, typer.Option(envvar="MQ_API_KEY")] = None,
    wait: Annotated[bool, typer.Option(help="Follow the job to its end.")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds --wait waits at most.")] = 300.0,
) -> None:
    """Submit a chat job from FILE or --message; --wait shows its progress and result."""
    from mistral_queue_client import Client

    from mistral_queue.submit import build_body, follow, post_job

    try:
        body = build_body(file, model=model, message=message, callback_url=callback_url)
        with Client(api_url, api_key or _first_api_key()) as client:
            job = post_job(client, body)
            if wait:
                job = follow(client, job.id, timeout=timeout, console=console)
    except MistralQueueError as exc:
        raise _fail(exc) from None
    sys.stdout.write(_pretty(job.model_dump(mode="json")) + "\n")


def _first_api_key() -> str:
    keys = load_settings().api_keys
    if not keys:
        raise ConfigError("pass --api-key or set MQ_API_KEY (or MQ_API_KEYS)")
    return keys[0].key.get_secret_value()


def _pretty(value: object) -> str:
    import json

    return json.dumps(value, indent=2, ensure_ascii=False)


@app.command()
def dev(
    api_port: int = 8000,
    emulator_port: int = 8800,
    receiver_port: int = 8900,
    flower_port: int = 5555,
    demo_only: Annotated[bool, typer.Option(help="Exit after the demo job's callback.")] = False,
) -> None:
    """Start everything locally (private Redis, emulator, API, worker, receiver, Flower)."""
    from mistral_queue.dev.demo import run_dev

    ports = {"api": api_port, "emulator": emulator_port, "receiver": receiver_port}
    try:
        run_dev(ports=ports, flower_port=flower_port, demo_only=demo_only, console=console)
    except MistralQueueError as exc:
        raise _fail(exc) from None


def main() -> None:
    """Entry point of the ``mistral-queue`` console script."""
    try:
        app()
    except ConfigError as exc:
        console.print(f"[red]error:[/red] {exc}")
        sys.exit(2)


if __name__ == "__main__":
    main()
