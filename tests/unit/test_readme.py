"""The README documents every setting and every CLI command."""

from __future__ import annotations

from pathlib import Path

import pytest

from mistral_queue.cli import app
from mistral_queue.config import Settings
from mistral_queue.config_values import env_name

README = (Path(__file__).parents[2] / "README.md").read_text()


@pytest.mark.parametrize("field", sorted(Settings.model_fields))
def test_every_setting_is_in_the_readme(field: str) -> None:
    assert f"`{env_name(field)}`" in README or env_name(field) in README


COMMANDS = sorted(c.name or getattr(c.callback, "__name__", "") for c in app.registered_commands)


def test_the_cli_has_the_commands_of_the_design() -> None:
    assert set(COMMANDS) >= {"api", "worker", "flower", "emulator", "receiver", "submit", "dev"}


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_is_in_the_readme(command: str) -> None:
    assert f"mistral-queue {command}" in README or f"make {command}" in README
