"""Every Redis key the service uses, in one place (the hash field names: ``jobs/fields.py``).

A batch job keeps, besides its job hash (whose ``request`` is only a summary):

- ``inputs``: hash, input position (0-based, decimal) -> the request line
  ``{"custom_id", "body"}`` as JSON text, for the upload and for direct calls;
- ``index``: hash, ``custom_id`` -> input position, to place Mistral's output lines;
- ``results``: hash, input position -> the result line ``{"custom_id", "response" | "error"}``;
- ``batch``: hash of the worker's bookkeeping (Mistral ids, poll counters, direct counters);
- ``pending``: sorted set of positions waiting for a deferred retry, scored by when they are
  due (unix seconds), so recovery does not publish them early.

They live as long as the job: created with a TTL covering the job's deadline plus its
retention, cut to the retention when the job ends. The Lua scripts get every key through
``KEYS`` (never build one), so a key's name lives here only.
"""

#: Namespace of all our keys, so a shared Redis stays readable.
PREFIX = "mq:"

#: Sorted set of job ids whose callback is due, scored by the unix time it is due at.
CALLBACKS_DUE = f"{PREFIX}callbacks:due"

#: Sorted set of unfinished job ids, scored by the unix time the sweep should look at them.
JOBS_WATCH = f"{PREFIX}jobs:watch"

#: Hash of every metric counter and histogram bucket, exported by the API's /metrics.
METRICS = f"{PREFIX}metrics"

#: Sorted set of ``scheduled`` job ids, scored by the unix time each is due at.
JOBS_DUE = f"{PREFIX}jobs:due"

#: Sorted set of ``waiting`` job ids, scored by the unix time their dependencies are checked.
JOBS_WAITING = f"{PREFIX}jobs:waiting"

#: Sorted set of active recurring schedule ids, scored by the unix time of their next tick.
SCHEDULES_DUE = f"{PREFIX}schedules:due"

#: The scheduler's leader lock (promotes due jobs, releases waiting ones, fires schedules).
SCHEDULER_LEADER = f"{PREFIX}scheduler:leader"

#: The recovery sweep's leader lock.
SWEEP_LEADER = f"{PREFIX}sweep:leader"

#: String holding the end (unix seconds) of the rate-limit pause that applies to every group.
RATELIMIT_PAUSE = f"{PREFIX}ratelimit:pause"


def job(job_id: str) -> str:
    """Hash holding one job record."""
    return f"{PREFIX}job:{job_id}"


def job_events(job_id: str) -> str:
    """Stream holding one job's event log."""
    return f"{PREFIX}job:{job_id}:events"


def job_lease(job_id: str) -> str:
    """String holding the token of the worker that runs the job now."""
    return f"{PREFIX}job:{job_id}:lease"


def tenant_jobs(tenant: str) -> str:
    """Sorted set of a tenant's job ids, scored by creation time in milliseconds."""
    return f"{PREFIX}tenant:{tenant}:jobs"


def tenant_events(tenant: str) -> str:
    """Stream of every event of a tenant's jobs."""
    return f"{PREFIX}tenant:{tenant}:events"


def idempotency(tenant: str, key: str) -> str:
    """String mapping a tenant's Idempotency-Key to ``"<job id> <body sha256>"``."""
    return f"{PREFIX}tenant:{tenant}:idem:{key}"


def callback_lock(job_id: str) -> str:
    """String held while one worker POSTs a job's callback, so two never send it at once."""
    return f"{PREFIX}job:{job_id}:callback-lock"


def tenant_running(tenant: str) -> str:
    """Sorted set of the tenant's started jobs (``<type>:<job id>``), scored by claim lapse."""
    return f"{PREFIX}tenant:{tenant}:running"


def ratelimit(group: str, part: str) -> str:
    """String of one part (``rps``, ``tpm``, ``pause``) of a rate-limit group's budget."""
    return f"{PREFIX}ratelimit:{group}:{part}"


def batch_inputs(job_id: str) -> str:
    """Hash of a batch's request lines by input position."""
    return f"{PREFIX}job:{job_id}:inputs"


def batch_index(job_id: str) -> str:
    """Hash of a batch's input positions by ``custom_id``."""
    return f"{PREFIX}job:{job_id}:index"


def batch_results(job_id: str) -> str:
    """Hash of a batch's result lines by input position."""
    return f"{PREFIX}job:{job_id}:results"


def batch_state(job_id: str) -> str:
    """Hash of the worker's bookkeeping for a batch."""
    return f"{PREFIX}job:{job_id}:batch"


def batch_pending(job_id: str) -> str:
    """Sorted set of input positions whose deferred retry is due at the score (unix seconds)."""
    return f"{PREFIX}job:{job_id}:pending"


def batch_request_lease(job_id: str, position: int) -> str:
    """The lease id (see ``jobs.lease``) a worker holds while it calls one request upstream."""
    return f"{job_id}/{position}"


def batch_keys(job_id: str) -> tuple[str, ...]:
    """Every batch key of the job (for expiry)."""
    return (
        batch_inputs(job_id),
        batch_index(job_id),
        batch_results(job_id),
        batch_state(job_id),
        batch_pending(job_id),
    )


def tenant_webhook_secret(tenant: str) -> str:
    """Hash of a tenant's signing-secret state: ``counter``, ``previous``, ``rotated_at``."""
    return f"{PREFIX}tenant:{tenant}:webhook-secret"


def tenant_conversations(tenant: str) -> str:
    """Set of the Mistral conversation ids the tenant's agent jobs got back."""
    return f"{PREFIX}tenant:{tenant}:conversations"


def tenant_files(tenant: str) -> str:
    """Set of the Mistral file ids the tenant's batch jobs uploaded."""
    return f"{PREFIX}tenant:{tenant}:files"


#: Set of the ids of managed tenants (``/v1/admin/tenants``).
TENANTS = f"{PREFIX}tenants"

#: Set of the ids of deleted managed tenants: never given out again (their jobs remain).
TENANTS_DELETED = f"{PREFIX}tenants:deleted"


def tenant_record(tenant: str) -> str:
    """Hash of a managed tenant: ``id``, ``created_at``, ``limits`` (JSON)."""
    return f"{PREFIX}tenant:{tenant}:record"


def tenant_keys(tenant: str) -> str:
    """Hash of a managed tenant's API keys: key id -> ``<sha256 hex> <created_at>``."""
    return f"{PREFIX}tenant:{tenant}:keys"


def api_key(digest: str) -> str:
    """Hash ``{"tenant", "key_id"}`` of the API key whose SHA-256 is ``digest`` (hex)."""
    return f"{PREFIX}apikey:{digest}"


def job_usage(job_id: str) -> str:
    """Hash of the tokens and cost a job's upstream calls used so far (jobs/usage.py)."""
    return f"{PREFIX}job:{job_id}:usage"


def tenant_usage(tenant: str, period: str) -> str:
    """Hash of a tenant's finished jobs' usage in one UTC day (``2026-12-01``) or month."""
    return f"{PREFIX}tenant:{tenant}:usage:{period}"


def tenant_reserved(tenant: str) -> str:
    """Hash of what the tenant's unfinished jobs hold: ``<job id>|t`` tokens, ``|n`` nano-USD."""
    return f"{PREFIX}tenant:{tenant}:reserved"


#: Sorted set of every started job (``<type>:<job id>``), scored by when its claim lapses.
SCHED_RUNNING = f"{PREFIX}sched:running"
#: Sorted set of the tenants with ready jobs, scored by their virtual time (tasks/scheduling.py).
SCHED_TENANTS = f"{PREFIX}sched:tenants"
#: Hash of each tenant's weight ``<t>|w``, cap ``<t>|c`` and virtual time ``<t>|v``.
SCHED_CONF = f"{PREFIX}sched:conf"
#: Hash of each waiting or running job's estimated tokens.
SCHED_COST = f"{PREFIX}sched:cost"
#: String holding the scheduler's clock: the virtual start time of the last job started.
SCHED_CLOCK = f"{PREFIX}sched:clock"


def tenant_ready(tenant: str) -> str:
    """Sorted set of the tenant's jobs waiting for their turn, by priority and age."""
    return f"{PREFIX}tenant:{tenant}:ready"


def schedule(schedule_id: str) -> str:
    """Hash holding one recurring schedule (``jobs/schedule.py``)."""
    return f"{PREFIX}schedule:{schedule_id}"


def tenant_schedules(tenant: str) -> str:
    """Sorted set of a tenant's schedule ids, scored by creation time in milliseconds."""
    return f"{PREFIX}tenant:{tenant}:schedules"


def endpoint_slots(endpoint: str) -> str:
    """Sorted set of the owner tokens of attempts in flight to one endpoint (a callback URL's
    origin or a registered endpoint's id), scored by when each lapses."""
    return f"{PREFIX}endpoint:{endpoint}:slots"


def redeliver_limit(job_id: str) -> str:
    """String set (with a TTL) when a job's callback is redelivered: one per interval."""
    return f"{PREFIX}job:{job_id}:redeliver-limit"


def endpoint(endpoint_id: str) -> str:
    """Hash of one registered webhook endpoint (``webhooks.endpoints``)."""
    return f"{PREFIX}endpoint:{endpoint_id}"


def tenant_endpoints(tenant: str) -> str:
    """Sorted set (all scores 0, ordered by id, which is time-ordered) of a tenant's endpoints."""
    return f"{PREFIX}tenant:{tenant}:endpoints"


def endpoint_attempts(endpoint_id: str) -> str:
    """Stream of an endpoint's delivery attempts, newest last."""
    return f"{PREFIX}endpoint:{endpoint_id}:attempts"


def endpoint_message(endpoint_id: str, job_id: str, event: str) -> str:
    """Hash of one message's delivery state to one endpoint: attempts, status, next attempt."""
    return f"{PREFIX}endpoint:{endpoint_id}:msg:{job_id}:{event}"


def endpoint_failed(endpoint_id: str) -> str:
    """Sorted set of ``"<job id> <event>"`` whose delivery failed, scored by when (unix s)."""
    return f"{PREFIX}endpoint:{endpoint_id}:failed"
