"""The Dockerfile and docker-compose.yml, checked by structure (no Docker engine runs here)."""

from __future__ import annotations

import base64
import re
import secrets
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml
from pydantic import AliasChoices

from mistral_queue.broker.celery_config import celery_config
from mistral_queue.cli import app
from mistral_queue.config import Settings, load_settings
from mistral_queue.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
APP_SERVICES = ("api", "worker", "flower", "emulator", "receiver")
#: ``${NAME:-default}`` in a compose value: substituted from the shell or the project's .env.
SUBSTITUTION = re.compile(r"\$\{(?P<name>\w+)(?::?-(?P<default>[^}]*))?\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of each Dockerfile line, continuations joined."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    pairs = [line.split(None, 1) for line in lines if line and not line.startswith("#")]
    return [(pair[0].upper(), pair[1] if len(pair) > 1 else "") for pair in pairs]


def final_stage() -> list[tuple[str, str]]:
    """The instructions of the last build stage (the image that runs)."""
    instructions = dockerfile_instructions()
    last_from = max(i for i, (op, _) in enumerate(instructions) if op == "FROM")
    return instructions[last_from:]


def environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's ``environment`` as a dict, whether written as a mapping or a list."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def resolve(value: str) -> str:
    """A compose value with each ``${NAME:-default}`` replaced by its default."""
    return SUBSTITUTION.sub(lambda m: m.group("default") or "", value)


def env_example() -> dict[str, str]:
    lines = (ROOT / ".env.example").read_text().splitlines()
    pairs = [line.split("=", 1) for line in lines if line.strip() and not line.startswith("#")]
    return {name.strip(): value.strip() for name, value in pairs}


def settings_variables() -> set[str]:
    """Every environment variable name Settings reads (fields and their aliases)."""
    prefix = Settings.model_config.get("env_prefix", "")
    names: set[str] = set()
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names.update(str(choice).upper() for choice in alias.choices)
        elif isinstance(alias, str):
            names.add(alias.upper())
        else:
            names.add(f"{prefix}{name}".upper())
    return names


def seconds(duration: str) -> float:
    """A compose duration such as ``180s``, ``3m`` or ``1m30s`` in seconds."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, duration
    return sum(float(n) * units[u] for n, u in parts)


def test_every_part_is_a_service(services: dict[str, dict[str, Any]]) -> None:
    assert set(services) >= {"redis", *APP_SERVICES}


def test_app_services_run_real_cli_commands(services: dict[str, dict[str, Any]]) -> None:
    """With ENTRYPOINT mistral-queue, each command's first word must be a CLI subcommand."""
    click_group = typer.main.get_command(app)
    commands = set(getattr(click_group, "commands", {}))
    for name in APP_SERVICES:
        command = services[name]["command"]
        argv = shlex.split(command) if isinstance(command, str) else command
        assert argv[0] == name, (name, argv)
        assert argv[0] in commands, f"{name}: mistral-queue has no command {argv[0]!r}"


def test_servers_listen_on_all_interfaces(services: dict[str, dict[str, Any]]) -> None:
    for name in ("api", "flower", "emulator", "receiver"):
        argv = services[name]["command"]
        assert argv[argv.index("--host") + 1] == "0.0.0.0", name


def test_worker_can_be_scaled(services: dict[str, dict[str, Any]]) -> None:
    worker = services["worker"]
    assert "container_name" not in worker
    assert "hostname" not in worker
    assert "--hostname" not in worker["command"], "one node name for every replica"
    # Published ports would collide between replicas.
    assert "ports" not in worker


def test_worker_grace_outlasts_a_task(services: dict[str, dict[str, Any]]) -> None:
    settings = Settings(_env_file=None)
    grace = seconds(services["worker"]["stop_grace_period"])
    assert grace > celery_config(settings)["worker_soft_shutdown_timeout"]
    assert grace > settings.mistral_read_timeout + settings.callback_timeout


def test_redis_is_durable_and_never_evicts(services: dict[str, dict[str, Any]]) -> None:
    redis = services["redis"]
    command = " ".join(str(part) for part in redis["command"])
    assert command.startswith("redis-server")
    for flag in ("--appendonly yes", "--appendfsync everysec", "--maxmemory-policy noeviction"):
        assert flag in command
    assert any(str(volume).endswith(":/data") for volume in redis["volumes"])
    assert "redis-cli" in redis["healthcheck"]["test"]
    assert "ping" in redis["healthcheck"]["test"]


def test_api_health_and_start_order(services: dict[str, dict[str, Any]]) -> None:
    assert "/readyz" in " ".join(services["api"]["healthcheck"]["test"])
    for name in ("api", "worker", "flower"):
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy", name


def test_env_wiring(services: dict[str, dict[str, Any]]) -> None:
    for name in APP_SERVICES:
        assert services[name].get("env_file") in (".env", [".env"]), name
    for name in ("api", "worker", "flower"):
        env = {k: resolve(v) for k, v in environment(services[name]).items()}
        assert env["MQ_REDIS_URL"] == "redis://redis:6379/0", name
        assert env["MISTRAL_BASE_URL"] == "http://emulator:8800", name
        assert env["MQ_CALLBACK_ALLOW_HOSTS"] == "receiver", name


def test_every_variable_is_a_setting(services: dict[str, dict[str, Any]]) -> None:
    known = settings_variables()
    used = {name for service in services.values() for name in environment(service)}
    used |= set(env_example())
    ours = {name for name in used if name.startswith(("MQ_", "MISTRAL_"))}
    assert ours, "no settings wired at all"
    assert ours <= known, f"not Settings variables: {sorted(ours - known)}"


def test_env_example_placeholders_are_refused(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The shipped placeholders must be replaced: start-up names each one left in."""
    example = env_example()
    assert {"MQ_API_KEYS", "MQ_WEBHOOK_SECRET", "MQ_FLOWER_BASIC_AUTH"} <= set(example)
    for name, value in {**example, **environment(services["api"])}.items():
        monkeypatch.setenv(name, resolve(value))
    with pytest.raises(ConfigError) as caught:
        load_settings(_env_file=None)
    for name in ("MQ_API_KEYS", "MQ_WEBHOOK_SECRET", "MQ_FLOWER_BASIC_AUTH"):
        assert name in str(caught.value)
    assert "placeholder" in str(caught.value)


def test_env_example_with_its_placeholders_filled_loads(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Otherwise the shipped file is well-formed: the API's whole environment validates."""
    filled = {
        "MQ_API_KEYS": f"{secrets.token_urlsafe(32)}:default",
        "MQ_WEBHOOK_SECRET": "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode(),
        "MQ_FLOWER_BASIC_AUTH": f"admin:{secrets.token_urlsafe(16)}",
    }
    for name, value in {**env_example(), **environment(services["api"]), **filled}.items():
        monkeypatch.setenv(name, resolve(value))
    settings = Settings(_env_file=None)
    settings.require("api_keys", "webhook_secret", "mistral_api_key")
    assert len(settings.webhook_keys()[0]) == 32
    assert settings.callback_allow_hosts == ("receiver",)


def test_image_runs_as_non_root() -> None:
    users = [args.split(":")[0] for op, args in final_stage() if op == "USER"]
    assert users, "the final stage has no USER"
    assert users[-1] not in ("root", "0")


def test_entrypoint_is_exec_form() -> None:
    entrypoints = [args for op, args in final_stage() if op == "ENTRYPOINT"]
    assert len(entrypoints) == 1
    assert yaml.safe_load(entrypoints[0]) == ["mistral-queue"]
    commands = [args for op, args in final_stage() if op == "CMD"]
    assert commands and commands[-1].startswith("["), "CMD must be exec form too"
