"""The value types and parsers of ``Settings``: API keys, rate limits, prices, tenant limits.

``config.py`` holds the one ``Settings`` class; what its fields are made of lives here, so
modules that only need a value type (``TenantLimits``, ``ModelPrice``) do not read settings.
"""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic_settings import SettingsError

#: Svix's production schedule, seconds between callback attempts (webhooks.md §3).
DEFAULT_CALLBACK_DELAYS = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)

#: Celery hard time limits per task queue, seconds: a chat run is at most ``max_attempts``
#: calls of ``mistral_read_timeout`` plus short waits; a callback is three 15 s phases.
DEFAULT_TIME_LIMITS = {"chat": 900.0, "agent": 1800.0, "batch": 600.0, "callbacks": 120.0}


class ApiKey(BaseModel):
    """One intake API key and the tenant it belongs to."""

    key: SecretStr
    tenant: str


class ModelRateLimit(BaseModel):
    """Limits for the models matching one ``MQ_RATE_LIMITS`` pattern; unset ones use the default."""

    rps: float | None = Field(default=None, gt=0)
    tpm: int | None = Field(default=None, gt=0)


class ModelPrice(BaseModel):
    """USD per 1M tokens for the models matching one ``MQ_MODEL_PRICES`` pattern."""

    model_config = ConfigDict(extra="forbid")

    input: float = Field(ge=0)
    output: float = Field(ge=0)


class TenantLimits(BaseModel):
    """One ``MQ_TENANT_LIMITS`` entry (docs/fairness.md); unset fields mean no limit."""

    model_config = ConfigDict(extra="forbid")

    rps: float | None = Field(default=None, gt=0)
    tpm: int | None = Field(default=None, gt=0)
    max_concurrency: int | None = Field(default=None, gt=0)
    #: Share of the deployment's limit relative to the other tenants' weights.
    weight: float = Field(default=1.0, gt=0, le=1000)
    tokens_per_day: int | None = Field(default=None, gt=0)
    tokens_per_month: int | None = Field(default=None, gt=0)
    usd_per_month: float | None = Field(default=None, gt=0)
    #: Past a budget: refuse new jobs with 429 (``reject``) or keep them queued (``wait``).
    on_budget: Literal["reject", "wait"] = "reject"


def split_list(value: Any) -> Any:
    """Accept a JSON list or a comma-separated string for list-valued variables."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("["):
        return json.loads(text)
    return [part.strip() for part in text.split(",") if part.strip()]


def is_local_url(url: str) -> bool:
    """Tell whether ``url`` points at this machine (an emulator, not the real Mistral API)."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_api_keys(value: Any) -> Any:
    """``MQ_API_KEYS`` entries ``key`` or ``key:tenant`` as ``ApiKey`` fields.

    Raises:
        ValueError: an entry has an empty key.
    """
    items = split_list(value)
    if not isinstance(items, list | tuple):
        return items
    parsed = []
    for item in items:
        if isinstance(item, str):
            key, _, tenant = item.partition(":")
            if not key:
                raise ValueError("an entry has an empty key")
            parsed.append({"key": key, "tenant": tenant or "default"})
        else:
            parsed.append(item)
    return parsed


def env_name(field: str) -> str:
    """The environment variable that sets ``field``."""
    if field.startswith("mistral_api_key") or field == "mistral_base_url":
        return field.upper()
    return f"MQ_{field.upper()}"


def describe_errors(exc: SettingsError | ValidationError) -> str:
    """What is wrong with the settings, naming each variable (never its value)."""
    if isinstance(exc, SettingsError):
        # A JSON-valued variable that is not JSON: pydantic-settings names only the field.
        found = re.search(r'field "(\w+)"', str(exc))
        return f"{env_name(found.group(1)) if found else 'settings'}: not valid JSON"
    return "; ".join(
        f"{env_name(str(err['loc'][0])) if err['loc'] else 'settings'}: {err['msg']}"
        for err in exc.errors()
    )
