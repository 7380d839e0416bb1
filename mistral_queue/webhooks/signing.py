"""Standard Webhooks v1 signing and verification, done by the ``standardwebhooks`` library.

A secret is either a ``whsec_<base64>`` string (as configured in ``MQ_WEBHOOK_SECRET``) or the
raw key bytes (as returned by ``Settings.webhook_keys()``). Several secrets mean rotation:
every one signs, and a receiver accepts a message when any one of its keys matches.
"""

from __future__ import annotations

import binascii
import json
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from standardwebhooks.webhooks import (
    EmptyWebhookSecretError,
    Webhook,
    WebhookVerificationError,
)

from mistral_queue.webhooks.errors import PayloadError, SignatureError

#: The message of ``WebhookVerificationError`` meaning "this key did not match": the only
#: failure worth trying the next key for (the others do not depend on the key).
_NO_MATCH = "No matching signature found"

Secret = str | bytes


def event_id(job_id: str, event_key: str) -> str:
    """Build the stable ``webhook-id`` of one event of one job.

    The format is ``msg_<job id without its "job_" prefix>_<event key>``, with every ``.``
    replaced by ``_`` because Standard Webhooks v1 §Signing forbids dots in the id (it is the
    separator of the signed content). Example: ``event_id("job_7Hq2", "job.succeeded")`` is
    ``"msg_7Hq2_job_succeeded"``. The same job and key always give the same id, so receivers
    can de-duplicate retries; an event that can happen more than once for a job (e.g. a second
    ``requires_action``) needs a key that tells the occurrences apart, such as
    ``"job.requires_action.2"``.

    Args:
        job_id: the job's id, normally ``job_…``.
        event_key: what happened, e.g. the event type ``"job.failed"``.

    Returns:
        The message id, without ``.`` characters.

    Raises:
        ValueError: when ``job_id`` or ``event_key`` is empty.
    """
    if not job_id or not event_key:
        raise ValueError("job_id and event_key must not be empty")
    raw = f"msg_{job_id.removeprefix('job_')}_{event_key}"
    return raw.replace(".", "_")


def _webhook(secret: Secret) -> Webhook:
    try:
        return Webhook(secret)
    except (EmptyWebhookSecretError, binascii.Error, ValueError) as exc:
        raise ValueError("invalid webhook secret (expected whsec_<base64> or key bytes)") from exc


def _utc(timestamp: datetime | None) -> datetime:
    # standardwebhooks replaces (not converts) the zone with UTC, so an aware datetime in
    # another zone would sign the wrong epoch (webhooks.md §2): convert it here first.
    if timestamp is None:
        return datetime.now(UTC)
    if timestamp.tzinfo is None:
        raise ValueError("timestamp must be timezone-aware")
    return timestamp.astimezone(UTC)


def sign_headers(
    msg_id: str,
    body: bytes,
    secrets: Sequence[Secret],
    timestamp: datetime | None = None,
) -> dict[str, str]:
    """Sign one delivery attempt (Standard Webhooks v1 §Signing, symmetric ``v1`` scheme).

    Call it again for every attempt: the timestamp is that of the attempt, and receivers
    reject timestamps more than 5 minutes off.

    Args:
        msg_id: the ``webhook-id``, stable across retries (see ``event_id``); no ``.``.
        body: the exact bytes that will be POSTed (UTF-8 JSON).
        secrets: one or more secrets; each adds a ``v1,<base64 HMAC-SHA256>`` signature.
        timestamp: when this attempt is made, timezone-aware; default now.

    Returns:
        ``webhook-id``, ``webhook-timestamp`` (integer Unix seconds), ``webhook-signature``
        (space-separated signatures, in the order of ``secrets``) and ``content-type``.

    Raises:
        ValueError: no secret, an invalid secret, a ``.`` in ``msg_id``, a naive timestamp,
            or a body that is not UTF-8.
    """
    if not secrets:
        raise ValueError("at least one webhook secret is needed to sign")
    if not msg_id or "." in msg_id:
        raise ValueError("msg_id must be non-empty and contain no '.'")
    when = _utc(timestamp)
    text = body.decode("utf-8")
    signatures = [_webhook(secret).sign(msg_id, when, text) for secret in secrets]
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(math.floor(when.timestamp())),
        "webhook-signature": " ".join(signatures),
        "content-type": "application/json",
    }


def verify(body: bytes, headers: Mapping[str, str], secrets: Sequence[Secret]) -> Any:
    """Verify a received webhook and return its parsed JSON body.

    Accepts when any of ``secrets`` matches any ``v1`` signature in the header (rotation).
    The timestamp must be within 5 minutes of now (the ``standardwebhooks`` tolerance).

    Args:
        body: the raw request body.
        headers: the request headers; names are matched without regard to case.
        secrets: the receiver's secrets (``whsec_…`` strings or key bytes).

    Returns:
        The body parsed as JSON.

    Raises:
        SignatureError: missing or malformed headers, a stale or future timestamp, or no
            matching signature; the message says which.
        PayloadError: the signature matched but the body is not JSON.
        ValueError: no secret, or an invalid secret.
    """
    if not secrets:
        raise ValueError("at least one webhook secret is needed to verify")
    for secret in secrets:
        if _verify_one(_webhook(secret), body, headers):
            return _parse(body)
    raise SignatureError(_NO_MATCH)


def _verify_one(hook: Webhook, body: bytes, headers: Mapping[str, str]) -> bool:
    """True when ``hook``'s key matches; raises for failures no other key can fix."""
    try:
        hook.verify(body, dict(headers.items()), json_parse=False)
    except WebhookVerificationError as exc:
        if str(exc) == _NO_MATCH:
            return False
        raise SignatureError(str(exc)) from exc
    except UnicodeDecodeError as exc:
        raise SignatureError("body is not UTF-8") from exc
    except ValueError as exc:
        # The library raises ValueError / binascii.Error (a ValueError) for a signature
        # entry without exactly one comma or with bad base64 (webhooks.md §2).
        raise SignatureError("malformed webhook-signature header") from exc
    return True


def _parse(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError as exc:
        raise PayloadError("webhook body is not valid JSON") from exc
