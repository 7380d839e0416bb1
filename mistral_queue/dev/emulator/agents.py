"""Agents kept in memory, with versions: every update appends one (SDK 3.7 ``Agent``).

Versions count from 0; ``version`` is the active one, ``versions`` lists all of them.
Aliases name a version (``PUT /v1/agents/{id}/aliases?alias=&version=``) and may stand for
it wherever ``agent_version`` is taken.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mistral_queue.dev.emulator.agent_schema import CreateAgentRequest, UpdateAgentRequest
from mistral_queue.dev.emulator.errors import ApiError, not_found
from mistral_queue.dev.emulator.ids import iso_now, new_id

#: Fields a version carries, as sent back in the ``Agent`` object.
_VERSION_FIELDS = (
    "model",
    "name",
    "instructions",
    "tools",
    "completion_args",
    "guardrails",
    "description",
    "handoffs",
    "metadata",
    "version_message",
    "deployment_chat",
)


@dataclass
class _AgentRecord:
    id: str
    created_at: str
    versions: list[dict[str, Any]] = field(default_factory=list)
    active: int = 0
    #: Alias name -> SDK ``AgentAliasResponse`` (``alias, version, created_at, updated_at``).
    aliases: dict[str, dict[str, Any]] = field(default_factory=dict)


class AgentStore:
    """All agents of one emulator."""

    def __init__(self) -> None:
        self._agents: dict[str, _AgentRecord] = {}

    def clear(self) -> None:
        """Forget every agent."""
        self._agents.clear()

    def create(self, body: CreateAgentRequest) -> dict[str, Any]:
        """Create an agent at version 0 and return it.

        Raises:
            ApiError: 400 when a handoff names an unknown agent.
        """
        self._check_handoffs(body.handoffs)
        now = iso_now()
        record = _AgentRecord(id=new_id("ag"), created_at=now)
        fields = body.model_dump(mode="json", exclude_none=True)
        record.versions.append({"deployment_chat": False, **fields, "updated_at": now})
        self._agents[record.id] = record
        return self._render(record, 0)

    def get(self, agent_id: str, version: int | str | None = None) -> dict[str, Any]:
        """The agent at ``version`` (default: the active one).

        Raises:
            ApiError: 404 for an unknown agent or version.
        """
        record = self._record(agent_id)
        return self._render(record, self._version(record, version))

    def page(self, page: int, page_size: int, name: str | None = None) -> list[dict[str, Any]]:
        """Agents newest first, one page (0-indexed)."""
        agents = [self._render(r, r.active) for r in reversed(self._agents.values())]
        if name is not None:
            agents = [a for a in agents if a["name"] == name]
        return agents[page * page_size : (page + 1) * page_size]

    def cursor_page(
        self, page_size: int, page_token: str | None, name: str | None = None
    ) -> dict[str, Any]:
        """One page of ``GET /v1/agents/pages`` (SDK ``AgentListPage``), newest first.

        The opaque ``next_page_token`` is the offset of the next page; null on the last one.

        Raises:
            ApiError: 400 for a token this store did not hand out.
        """
        offset = (page_token or "off_0").removeprefix("off_")
        if page_token is not None and (not page_token.startswith("off_") or not offset.isdigit()):
            raise ApiError(400, "Invalid page_token", param="page_token")
        start = int(offset)
        agents = self.page(0, len(self._agents), name)
        end = start + page_size
        token = f"off_{end}" if end < len(agents) else None
        return {"object": "list", "data": agents[start:end], "next_page_token": token}

    def set_alias(self, agent_id: str, alias: str, version: int) -> dict[str, Any]:
        """Point ``alias`` at an existing ``version`` (created or moved).

        Raises:
            ApiError: 404 for an unknown agent or version, 400 for an all-digit alias.
        """
        record = self._record(agent_id)
        if alias.isdigit() or not alias:
            raise ApiError(400, "An alias must not be a version number", param="alias")
        number = self._version(record, version)
        now = iso_now()
        known = record.aliases.get(alias)
        created = known["created_at"] if known else now
        record.aliases[alias] = {
            "alias": alias,
            "version": number,
            "created_at": created,
            "updated_at": now,
        }
        return record.aliases[alias]

    def aliases(self, agent_id: str) -> list[dict[str, Any]]:
        """The aliases of an agent. Raises ApiError 404 for an unknown agent."""
        return list(self._record(agent_id).aliases.values())

    def delete_alias(self, agent_id: str, alias: str) -> None:
        """Forget an alias. Raises ApiError 404 for an unknown agent or alias."""
        record = self._record(agent_id)
        if record.aliases.pop(alias, None) is None:
            raise not_found(f"Version alias of agent {agent_id}", alias)

    def update(self, agent_id: str, body: UpdateAgentRequest) -> dict[str, Any]:
        """Append a version with the fields of ``body`` over the active one; it becomes active.

        Raises:
            ApiError: 404 for an unknown agent, 400 for an unknown handoff.
        """
        record = self._record(agent_id)
        self._check_handoffs(body.handoffs)
        base = {k: v for k, v in record.versions[record.active].items() if k != "version_message"}
        changes = body.model_dump(mode="json", exclude_unset=True)
        record.versions.append({**base, **changes, "updated_at": iso_now()})
        record.active = len(record.versions) - 1
        return self._render(record, record.active)

    def set_version(self, agent_id: str, version: int) -> dict[str, Any]:
        """Make an existing ``version`` the active one.

        Raises:
            ApiError: 404 for an unknown agent or version.
        """
        record = self._record(agent_id)
        record.active = self._version(record, version)
        return self._render(record, record.active)

    def versions(self, agent_id: str) -> list[dict[str, Any]]:
        """Every version of the agent, newest first.

        Raises:
            ApiError: 404 for an unknown agent.
        """
        record = self._record(agent_id)
        return [self._render(record, v) for v in reversed(range(len(record.versions)))]

    def delete(self, agent_id: str) -> None:
        """Delete the agent.

        Raises:
            ApiError: 404 for an unknown agent.
        """
        self._record(agent_id)
        del self._agents[agent_id]

    def _record(self, agent_id: str) -> _AgentRecord:
        record = self._agents.get(agent_id)
        if record is None:
            raise not_found("Agent", agent_id)
        return record

    def _version(self, record: _AgentRecord, version: int | str | None) -> int:
        if version is None:
            return record.active
        if isinstance(version, str) and not version.isdigit():
            alias = record.aliases.get(version)
            if alias is None:
                raise not_found(f"Version alias of agent {record.id}", version)
            return int(alias["version"])
        number = int(version)
        if not 0 <= number < len(record.versions):
            raise not_found(f"Version of agent {record.id}", str(version))
        return number

    def _check_handoffs(self, handoffs: list[str] | None) -> None:
        for agent_id in handoffs or []:
            if agent_id not in self._agents:
                raise ApiError(400, f"Handoff agent {agent_id} not found", param="handoffs")

    def _render(self, record: _AgentRecord, version: int) -> dict[str, Any]:
        data = record.versions[version]
        agent: dict[str, Any] = {field: data.get(field) for field in _VERSION_FIELDS}
        agent["tools"] = data.get("tools") or []
        agent["deployment_chat"] = bool(data.get("deployment_chat"))
        return {
            "object": "agent",
            "id": record.id,
            **agent,
            "version": version,
            "versions": list(range(len(record.versions))),
            "created_at": record.created_at,
            "updated_at": data["updated_at"],
            "source": "api",
            "owner_id": None,
        }
