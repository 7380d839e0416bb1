"""The per-tenant signing secret of a local stack, for tests, benchmarks and the demo."""

from __future__ import annotations

import redis

from mistral_queue.dev.stack import LocalStack
from mistral_queue.jobs import keys
from mistral_queue.secret_rules import decode_webhook_secret
from mistral_queue.webhooks.tenant_secrets import as_whsec, derive


def signing_secret(local: LocalStack, tenant: str | None = None) -> str:
    """The ``whsec_`` secret ``tenant``'s messages are signed with now.

    ``tenant`` defaults to the tenant of ``local.api_key`` (the first ``MQ_API_KEYS`` entry).
    ``local.secret`` is the master key, which verifies no tenant's message.
    """
    if tenant is None:
        first = local.env["MQ_API_KEYS"].split(",")[0]
        tenant = first.partition(":")[2] or "default"
    client = redis.Redis.from_url(local.redis.url, decode_responses=True)
    try:
        counter = client.hget(keys.tenant_webhook_secret(tenant), "counter")
    finally:
        client.close()
    master = decode_webhook_secret(local.secret)
    return as_whsec(derive(master, tenant, int(str(counter or 0))))
