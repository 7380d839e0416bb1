"""Settings: every knob of the service, read once from the environment and `.env`.

Variables carry the ``MQ_`` prefix, except the two Mistral ones (``MISTRAL_API_KEY``,
``MISTRAL_BASE_URL``) which keep the names the official SDK and docs use.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Any

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

from mistral_queue import secret_rules
from mistral_queue.config_values import (
    DEFAULT_CALLBACK_DELAYS,
    DEFAULT_TIME_LIMITS,
    ApiKey,
    ModelPrice,
    ModelRateLimit,
    TenantLimits,
    describe_errors,
    env_name,
    is_local_url,
    parse_api_keys,
    split_list,
)
from mistral_queue.errors import ConfigError
from mistral_queue.metrics import DEFAULT_METRICS_MODELS
from mistral_queue.secret_rules import decode_webhook_secret


class Settings(BaseSettings):
    """Every setting of the service; see the README's settings table for each variable."""

    model_config = SettingsConfigDict(
        env_prefix="MQ_", env_file=".env", env_ignore_empty=True, extra="ignore"
    )

    # Upstream (Mistral)
    mistral_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("MISTRAL_API_KEY", "MQ_MISTRAL_API_KEY")
    )
    mistral_base_url: str = Field(
        default="https://api.mistral.ai",
        validation_alias=AliasChoices("MISTRAL_BASE_URL", "MQ_MISTRAL_BASE_URL"),
    )
    #: Seconds to open a connection to Mistral.
    mistral_connect_timeout: float = 10.0
    #: Seconds to wait for response bytes (per read, so streams may run longer overall).
    mistral_read_timeout: float = 120.0
    #: Upstream attempts per job call before the job fails (first try included).
    max_attempts: int = Field(default=6, ge=1, le=100)
    #: Full-jitter exponential backoff: base and cap, seconds.
    retry_base_delay: float = Field(default=1.0, gt=0)
    retry_max_delay: float = Field(default=120.0, gt=0)
    #: Waits up to this many seconds happen inside the task; longer ones go back to Celery.
    inline_retry_max_wait: float = Field(default=5.0, ge=0)

    # Storage and broker
    redis_url: str = "redis://localhost:6379/0"
    broker_url: str | None = None
    #: Seconds a finished job, its events and results are kept.
    job_retention_seconds: int = Field(default=7 * 24 * 3600, gt=0)
    #: Seconds an Idempotency-Key is remembered.
    idempotency_ttl_seconds: int = Field(default=24 * 3600, gt=0)
    #: Seconds a worker's lease on a job lasts without renewal.
    lease_seconds: float = Field(default=30.0, gt=1)
    #: Seconds the Redis broker waits before redelivering an unacked message.
    visibility_timeout: int = Field(default=4 * 3600, gt=60)
    #: Seconds after which a job that has not finished fails (overall deadline).
    job_deadline_seconds: int = Field(default=6 * 3600, gt=0)
    #: Seconds between two passes of the scheduler (due delayed jobs, dependencies, schedules).
    scheduler_interval: float = Field(default=0.2, gt=0, le=1)
    #: Furthest a job's ``run_at`` / ``delay_seconds`` may be from now, seconds.
    max_delay_seconds: float = Field(default=30 * 24 * 3600, gt=0)
    #: Seconds between two runs of the recovery sweep.
    sweep_interval: float = Field(default=5.0, gt=0)
    #: Seconds an unstarted job may wait before the sweep publishes it again (a lost message).
    requeue_after_seconds: float = Field(default=300.0, gt=0)
    #: Seconds a worker keeps retrying to record a job's outcome while Redis is unreachable,
    #: so an upstream answer it already holds is not asked for again.
    store_retry_seconds: float = Field(default=60.0, ge=0)
    #: Seconds running jobs get to finish after SIGTERM; then the worker exits and hands them
    #: back (their leases are released and the sweep requeues them at once).
    shutdown_grace_seconds: float = Field(default=60.0, gt=0)
    #: Seconds a worker may sit idle while its queues hold messages before its watchdog
    #: makes it exit for a restart (a consumer stalled after a reconnect); 0 turns it off.
    #: Keep it above Celery's longest reconnect wait (30 s).
    consumer_stall_seconds: float = Field(default=120.0, ge=0)
    #: Celery hard time limit per task queue (chat, agent, batch, callbacks), seconds, JSON;
    #: the soft limit is 90 % of it. Only the prefork pool enforces them: under the threads
    #: pool the job deadline and the sweep end a job that runs too long.
    task_time_limits: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_TIME_LIMITS))

    #: Token streaming: a ``job.delta`` event at most every this many milliseconds...
    delta_interval_ms: float = Field(default=50.0, ge=0)
    #: ...or as soon as this many characters are waiting.
    delta_max_chars: int = Field(default=400, gt=0)

    #: Embeddings jobs: most inputs, and most estimated tokens (text length / 4), sent in
    #: one ``/v1/embeddings`` call; a larger input list is split into several calls.
    embeddings_inputs_per_request: int = Field(default=128, ge=1, le=1024)
    embeddings_tokens_per_request: int = Field(default=16_000, ge=1)
    #: OCR jobs that list their ``pages``: most pages asked for in one ``/v1/ocr`` call,
    #: so progress is reported page range by page range.
    ocr_pages_per_request: int = Field(default=8, ge=1, le=1000)

    # Intake API
    api_keys: Annotated[tuple[ApiKey, ...], NoDecode] = ()
    #: Bearer key of the admin API (``/v1/admin/tenants``); unset turns that API off.
    admin_key: SecretStr | None = None
    #: Largest accepted request body, bytes.
    max_body_bytes: int = Field(default=1_048_576, gt=0)
    #: Largest accepted request headers (names and values together), bytes.
    max_header_bytes: int = Field(default=16_384, gt=0)

    # Callbacks
    #: The master ``whsec_…`` key tenants' signing secrets derive from (the first entry).
    webhook_secret: Annotated[tuple[SecretStr, ...], NoDecode] = ()
    #: Seconds a tenant's (or a registered endpoint's) previous signing secret keeps signing
    #: after a rotation (Svix: 1 day).
    webhook_rotation_grace_seconds: float = Field(default=86400.0, ge=0)
    callback_allow_hosts: Annotated[tuple[str, ...], NoDecode] = ()
    callback_retry_delays: Annotated[tuple[float, ...], NoDecode] = DEFAULT_CALLBACK_DELAYS
    #: Seconds for one whole callback attempt: connect, send and the response, however slowly
    #: the receiver answers (Standard Webhooks recommends 15-30 s).
    callback_timeout: float = Field(default=15.0, gt=0)
    #: Seconds a due callback may wait for its own message before the sweep sends it again.
    callback_requeue_after_seconds: float = Field(default=30.0, gt=0)
    #: Seconds between two redeliveries of one job's callback (more is 429 with Retry-After).
    callback_redeliver_interval_seconds: float = Field(default=10.0, gt=0)
    #: Seconds a registered endpoint may fail without a success before it is disabled.
    endpoint_disable_after_seconds: float = Field(default=5 * 24 * 3600.0, gt=0)
    #: Callback attempts one worker process runs at once (its delivery budget); the rest of
    #: its threads stay free for jobs.
    callback_concurrency: int = Field(default=16, gt=0)
    #: Callback attempts in flight to one endpoint (URL origin) across the deployment, so a
    #: receiver that hangs holds at most this many delivery slots.
    callback_endpoint_concurrency: int = Field(default=2, gt=0)

    # Rate limits (deployment-wide)
    rate_limit_rps: float | None = Field(default=None, gt=0)
    rate_limit_tpm: int | None = Field(default=None, gt=0)
    #: Per-model overrides, JSON: glob pattern -> {"rps", "tpm"}, first match wins, e.g.
    #: ``{"mistral-large-*": {"rps": 1}}``; each pattern has its own shared budget.
    rate_limits: dict[str, ModelRateLimit] = Field(default_factory=dict)
    #: Models or glob patterns with their own metrics label (list); the others are ``other``.
    metrics_models: Annotated[tuple[str, ...], NoDecode] = DEFAULT_METRICS_MODELS
    #: Seconds a worker may sleep for a rate-limit slot; longer waits go back to Celery.
    rate_limit_max_inline_wait: float = Field(default=0.5, ge=0)
    #: Share of the tokens-per-minute limit left unused, since token estimates are only
    #: settled after the call (0.05 = 95%). Requests are counted exactly, with no headroom.
    rate_limit_headroom: float = Field(default=0.05, ge=0, le=0.5)
    #: Seconds added to each request window for send-to-arrival jitter (429s widen it).
    rate_limit_margin: float = Field(default=0.01, ge=0, le=0.25)

    #: Agents each tenant may use, JSON: tenant -> list of agent ids or glob patterns, e.g.
    #: ``{"acme": ["ag_acme_*"]}``; a tenant not listed may use every agent.
    tenant_allowed_agents: dict[str, tuple[str, ...]] = Field(default_factory=dict)

    #: Jobs one tenant may run at once across the deployment; unset means no cap (a
    #: tenant's ``max_concurrency`` in ``MQ_TENANT_LIMITS`` wins over it).
    tenant_max_concurrency: int | None = Field(default=None, gt=0)
    #: Jobs the whole deployment runs at once; past it jobs wait in Redis and start in
    #: weighted fair order (docs/fairness.md). Unset: no deployment cap (and no fair share).
    max_running_jobs: int | None = Field(default=None, gt=0)
    #: Seconds of age one priority step is worth: a job is passed only by jobs accepted
    #: less than ``(9 - priority) * this`` seconds after it (docs/fairness.md).
    priority_aging_seconds: float = Field(default=60.0, gt=0)
    #: Per-tenant limits, JSON: tenant (or ``"*"`` for every tenant) -> TenantLimits fields;
    #: a tenant's own entry wins field by field over ``"*"`` (docs/fairness.md).
    tenant_limits: dict[str, TenantLimits] = Field(default_factory=dict)
    #: Seconds between two checks of a job held back by ``on_budget: "wait"`` (it runs at the
    #: window's end at the latest, or sooner when the budget is raised meanwhile).
    budget_recheck_seconds: float = Field(default=300.0, gt=0)
    #: Prices, JSON: glob pattern -> {"input", "output"} USD per 1M tokens; first match wins.
    model_prices: dict[str, ModelPrice] = Field(default_factory=dict)

    # Batch jobs
    #: Batches with more requests than this default to mode ``api`` (Mistral's Batch API);
    #: smaller ones to ``direct`` (one chat call per request).
    batch_api_threshold: int = Field(default=100, ge=0)
    #: Most requests one batch may have (inline or in its input file); more is a 413.
    batch_max_requests: int = Field(default=50_000, gt=0)
    #: Largest batch, bytes: the inline requests as JSONL, or the input file; more is a 413.
    #: POST /v1/jobs accepts bodies up to this plus ``max_body_bytes`` for the envelope.
    batch_max_bytes: int = Field(default=16 * 1_048_576, gt=0)
    #: Seconds before the first poll of a Mistral batch job; each poll doubles it...
    batch_poll_initial_seconds: float = Field(default=2.0, gt=0)
    #: ...up to this many seconds between two polls.
    batch_poll_max_seconds: float = Field(default=60.0, gt=0)

    # Agent jobs
    #: Seconds an agent job waits in ``requires_action`` for tool results before it fails.
    requires_action_timeout_seconds: float = Field(default=3600.0, gt=0)
    #: Seconds for one whole HTTP tool call attempt: connect, send and the whole answer.
    tool_call_timeout: float = Field(default=30.0, gt=0)
    #: Attempts per HTTP tool call (the first included) before the job fails.
    tool_call_attempts: int = Field(default=4, ge=1, le=20)

    # Flower
    flower_basic_auth: SecretStr | None = None

    @field_validator("api_keys", mode="before")
    @classmethod
    def _parse_api_keys(cls, value: Any) -> Any:
        return parse_api_keys(value)

    @field_validator("api_keys", "admin_key", "flower_basic_auth")
    @classmethod
    def _strong(cls, value: Any, info: ValidationInfo) -> Any:
        secret_rules.refuse_weak(str(info.field_name), value)
        return value

    @field_validator("webhook_secret", mode="before")
    @classmethod
    def _parse_secrets(cls, value: Any) -> Any:
        items = split_list(value)
        for item in items if isinstance(items, list | tuple) else []:
            decode_webhook_secret(str(item))
        return items

    @field_validator("mistral_base_url")
    @classmethod
    def _strip_api_version(cls, value: str) -> str:
        # The client's paths start with /v1 (as the SDK's server_url has none), so the
        # https://api.mistral.ai/v1 form that other clients document would give /v1/v1/...
        return value.rstrip("/").removesuffix("/v1").rstrip("/")

    @field_validator(
        "callback_allow_hosts", "callback_retry_delays", "metrics_models", mode="before"
    )
    @classmethod
    def _parse_list(cls, value: Any) -> Any:
        return split_list(value)

    @field_validator("callback_allow_hosts")
    @classmethod
    def _lower_hosts(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(host.lower().strip("[]") for host in value)

    def metric_models(self) -> tuple[str, ...]:
        """The configured models and patterns a ``model`` metrics label may be."""
        return (*self.metrics_models, *self.rate_limits)

    @property
    def broker(self) -> str:
        """The Celery broker URL (``MQ_BROKER_URL``, else ``MQ_REDIS_URL``)."""
        return self.broker_url or self.redis_url

    def webhook_keys(self) -> list[bytes]:
        """The decoded webhook signing keys, the signing one first."""
        return [decode_webhook_secret(s.get_secret_value()) for s in self.webhook_secret]

    def require(self, *names: str) -> None:
        """Fail start-up when a setting a component needs is unset.

        Raises:
            ConfigError: naming the environment variable of each missing setting.
        """
        missing = [env_name(n) for n in names if not getattr(self, n)]
        if "MISTRAL_API_KEY" in missing and is_local_url(self.mistral_base_url):
            missing.remove("MISTRAL_API_KEY")
        if missing:
            raise ConfigError(f"missing required setting(s): {', '.join(missing)}")


def load_settings(**overrides: Any) -> Settings:
    """Read the settings, turning validation errors into one readable ConfigError.

    Raises:
        ConfigError: naming each variable that is malformed.
    """
    try:
        return Settings(**overrides)
    except (SettingsError, ValidationError) as exc:
        raise ConfigError(f"invalid settings: {describe_errors(exc)}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return load_settings()
