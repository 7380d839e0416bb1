"""Standard Webhooks callbacks: signing and verification, the URL guard, delivery.

The development receiver (``dev.receiver``) is not imported here, so workers do not load
its server dependencies.
"""

from mistral_queue.webhooks.delivery import DeliveryResult, deliver
from mistral_queue.webhooks.errors import (
    PayloadError,
    SignatureError,
    UnsafeReason,
    UnsafeURLError,
    WebhookError,
)
from mistral_queue.webhooks.guard import GuardedURL, check_url, check_url_async
from mistral_queue.webhooks.pinned_transport import make_client, thread_client
from mistral_queue.webhooks.signing import event_id, sign_headers, verify

__all__ = [
    "DeliveryResult",
    "GuardedURL",
    "PayloadError",
    "SignatureError",
    "UnsafeReason",
    "UnsafeURLError",
    "WebhookError",
    "check_url",
    "check_url_async",
    "deliver",
    "event_id",
    "make_client",
    "sign_headers",
    "thread_client",
    "verify",
]
