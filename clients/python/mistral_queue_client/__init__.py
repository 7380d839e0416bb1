"""Python client of the mistral-queue intake API.

    from mistral_queue_client import Client

    with Client("http://127.0.0.1:8000", api_key="…") as client:
        job = client.chat("mistral-small-latest", [{"role": "user", "content": "Hi"}])
        print(job.result["choices"][0]["message"]["content"])

``AsyncClient`` has the same surface, awaited. ``mistral_queue_client.webhooks.verify`` checks
a callback's signature.
"""

from mistral_queue_client._aclient import AsyncClient
from mistral_queue_client._client import Client
from mistral_queue_client._core import VERSION as __version__
from mistral_queue_client.errors import (
    APIConnectionError,
    APIError,
    AuthenticationError,
    BudgetExceededError,
    ClientError,
    ConflictError,
    NotFoundError,
    RateLimitError,
    ValidationError,
    WaitTimeoutError,
)
from mistral_queue_client.models import (
    BatchResult,
    Callback,
    Endpoint,
    EndpointAttempt,
    Event,
    Job,
    ToolCall,
    Usage,
)

__all__ = [
    "APIConnectionError",
    "APIError",
    "AsyncClient",
    "AuthenticationError",
    "BatchResult",
    "BudgetExceededError",
    "Callback",
    "Client",
    "ClientError",
    "ConflictError",
    "Endpoint",
    "EndpointAttempt",
    "Event",
    "Job",
    "NotFoundError",
    "RateLimitError",
    "ToolCall",
    "Usage",
    "ValidationError",
    "WaitTimeoutError",
    "__version__",
]
