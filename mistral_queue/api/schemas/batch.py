"""The ``request`` of a batch job: inline requests or an uploaded input file, and a mode.

Unlike chat and agent requests this is our own shape (DESIGN § Job kinds): the lines follow
Mistral's batch input format (``{"custom_id", "body"}``, mistral-api.md §2), the rest says
how to run them. Unknown fields are refused, so a typo does not silently change a batch.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mistral_queue.mistral.batches import Endpoint
from mistral_queue.mistral.ids import UPSTREAM_ID_PATTERN

#: Longest ``custom_id``, characters.
MAX_CUSTOM_ID = 512


class BatchItem(BaseModel):
    """One request of a batch: your id for it and the endpoint's body (``model`` optional)."""

    model_config = ConfigDict(extra="forbid")

    custom_id: str = Field(min_length=1, max_length=MAX_CUSTOM_ID)
    body: dict[str, Any]


class BatchRequest(BaseModel):
    """A batch of requests to one endpoint, run through Mistral's Batch API or call by call."""

    model_config = ConfigDict(extra="forbid")

    endpoint: Endpoint = Field(
        default="/v1/chat/completions", description="The endpoint every request goes to."
    )
    model: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="The model of every request (required unless the endpoint is agents).",
    )
    agent_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        pattern=UPSTREAM_ID_PATTERN,
        description="The agent of every request (required for /v1/agents/completions).",
    )
    requests: list[BatchItem] | None = Field(
        default=None,
        min_length=1,
        description="The requests, with unique custom_ids; or give input_file instead.",
    )
    input_file: str | None = Field(
        default=None,
        pattern=UPSTREAM_ID_PATTERN,
        description="Id of a JSONL file uploaded to Mistral (purpose batch) holding the lines.",
    )
    mode: Literal["api", "direct"] | None = Field(
        default=None,
        description=(
            "api: Mistral's Batch API (upload, create, poll); direct: one call per request. "
            "Default: api above MQ_BATCH_API_THRESHOLD requests, direct otherwise."
        ),
    )
    metadata: dict[str, str] | None = Field(
        default=None, max_length=16, description="Metadata of Mistral's batch job (mode api)."
    )
    timeout_hours: int | None = Field(
        default=None, ge=1, le=168, description="Mistral's time limit for the batch (mode api)."
    )

    @field_validator("requests")
    @classmethod
    def _unique_ids(cls, items: list[BatchItem] | None) -> list[BatchItem] | None:
        seen: dict[str, int] = {}
        for position, item in enumerate(items or []):
            first = seen.setdefault(item.custom_id, position)
            if first != position:
                raise ValueError(
                    f"custom_id {item.custom_id!r} is used by requests {first} and {position}; "
                    "custom_ids must be unique"
                )
        return items

    @model_validator(mode="after")
    def _consistent(self) -> BatchRequest:
        if (self.requests is None) == (self.input_file is None):
            raise ValueError("give exactly one of requests and input_file")
        if self.endpoint == "/v1/agents/completions":
            if self.agent_id is None or self.model is not None:
                raise ValueError("/v1/agents/completions needs agent_id and no model")
        elif self.model is None or self.agent_id is not None:
            raise ValueError(f"{self.endpoint} needs model and no agent_id")
        return self
