"""Every Redis key the service uses, in one place."""

#: Namespace of all our keys, so a shared Redis stays readable.
PREFIX = "mq:"

#: Sorted set of job ids whose callback is due, scored by the unix time it is due at.
CALLBACKS_DUE = f"{PREFIX}callbacks:due"

#: Sorted set of unfinished job ids, scored by the unix time the sweep should look at them.
JOBS_WATCH = f"{PREFIX}jobs:watch"

#: Hash of every metric counter and histogram bucket, exported by the API's /metrics.
METRICS = f"{PREFIX}metrics"

#: The recovery sweep's leader lock.
SWEEP_LEADER = f"{PREFIX}sweep:leader"


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
    """Sorted set of the tenant's running job ids, scored by when each claim lapses."""
    return f"{PREFIX}tenant:{tenant}:running"


def tenant_parked(tenant: str) -> str:
    """Sorted set of the tenant's jobs waiting for room under its cap, scored by acceptance."""
    return f"{PREFIX}tenant:{tenant}:parked"
