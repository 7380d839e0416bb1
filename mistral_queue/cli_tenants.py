"""``mistral-queue tenants …``: manage tenants through the admin API (``MQ_ADMIN_KEY``)."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import httpx
import typer

from mistral_queue.errors import MistralQueueError

tenants_app = typer.Typer(help="Manage tenants and their API keys (needs MQ_ADMIN_KEY).")

ApiUrl = Annotated[str, typer.Option(envvar="MQ_API_URL", help="The intake API.")]
AdminKey = Annotated[str, typer.Option(envvar="MQ_ADMIN_KEY", help="The admin bearer key.")]
DEFAULT_URL = "http://127.0.0.1:8000"


class AdminError(MistralQueueError):
    """The admin API could not be reached or refused the call."""


def api_call(method: str, url: str, key: str, body: Any = None) -> dict[str, Any]:
    """One authenticated JSON request to the API; returns the JSON answer ({} when empty).

    Raises:
        AdminError: the API is unreachable or answers 4xx/5xx (with its error message).
    """
    try:
        response = httpx.request(
            method, url, json=body, headers={"Authorization": f"Bearer {key}"}, timeout=30
        )
    except httpx.HTTPError as exc:
        raise AdminError(f"cannot reach {url}: {exc}") from None
    data: dict[str, Any] = response.json() if response.content else {}
    if response.status_code >= 400:
        error = data.get("error", {})
        raise AdminError(f"HTTP {response.status_code}: {error.get('message', response.text)}")
    return data


def _run(method: str, path: str, api_url: str, admin_key: str, body: Any = None) -> None:
    """Call the admin API and print its JSON answer; exit 2 with its message on an error."""
    try:
        answer = api_call(method, f"{api_url.rstrip('/')}/v1/admin/tenants{path}", admin_key, body)
    except MistralQueueError as exc:
        sys.stderr.write(f"error: {exc}\n")
        raise typer.Exit(2) from None
    if answer:
        sys.stdout.write(json.dumps(answer, indent=2) + "\n")


@tenants_app.command()
def create(
    tenant: str,
    limits: Annotated[str | None, typer.Option(help="Limits as a JSON object.")] = None,
    api_url: ApiUrl = DEFAULT_URL,
    admin_key: AdminKey = "",
) -> None:
    """Create a tenant; prints its first API key (shown this once) and webhook secret."""
    body: dict[str, Any] = {"id": tenant}
    if limits is not None:
        body["limits"] = json.loads(limits)
    _run("POST", "", api_url, admin_key, body)


@tenants_app.command("list")
def list_(api_url: ApiUrl = DEFAULT_URL, admin_key: AdminKey = "") -> None:
    """List the managed tenants."""
    _run("GET", "", api_url, admin_key)


@tenants_app.command()
def show(tenant: str, api_url: ApiUrl = DEFAULT_URL, admin_key: AdminKey = "") -> None:
    """Show one tenant: its limits and its keys' ids."""
    _run("GET", f"/{tenant}", api_url, admin_key)


@tenants_app.command()
def delete(tenant: str, api_url: ApiUrl = DEFAULT_URL, admin_key: AdminKey = "") -> None:
    """Delete a tenant: its keys stop at once and its unfinished jobs are cancelled."""
    _run("DELETE", f"/{tenant}", api_url, admin_key)


@tenants_app.command("add-key")
def add_key(tenant: str, api_url: ApiUrl = DEFAULT_URL, admin_key: AdminKey = "") -> None:
    """Give a tenant another API key (printed this once)."""
    _run("POST", f"/{tenant}/keys", api_url, admin_key)


@tenants_app.command("revoke-key")
def revoke_key(
    tenant: str, key_id: str, api_url: ApiUrl = DEFAULT_URL, admin_key: AdminKey = ""
) -> None:
    """Revoke one of a tenant's keys by its id."""
    _run("DELETE", f"/{tenant}/keys/{key_id}", api_url, admin_key)
