"""Start-up fails with a message naming the variable when a setting is missing or malformed."""

from __future__ import annotations

import os
import subprocess

import pytest

from mistral_queue.dev.processes import cli

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
KEY = "k-4f9a1c2e7b"
ZEROS = "whsec_" + "A" * 43 + "="
CLEAN = {k: v for k, v in os.environ.items() if not k.startswith(("MQ_", "MISTRAL_"))}


def _run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cli(*args), env={**CLEAN, **env}, capture_output=True, text=True, timeout=60, cwd="/"
    )


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"MQ_WEBHOOK_SECRET": SECRET}, "MQ_API_KEYS"),
        ({"MQ_API_KEYS": KEY}, "MQ_WEBHOOK_SECRET"),
        ({"MQ_API_KEYS": KEY, "MQ_WEBHOOK_SECRET": "not-a-secret"}, "MQ_WEBHOOK_SECRET"),
        ({"MQ_API_KEYS": KEY, "MQ_WEBHOOK_SECRET": "whsec_c2hvcnQ="}, "MQ_WEBHOOK_SECRET"),
        (
            {"MQ_API_KEYS": KEY, "MQ_WEBHOOK_SECRET": SECRET, "MQ_MAX_ATTEMPTS": "x"},
            "MQ_MAX_ATTEMPTS",
        ),
    ],
)
def test_api_refuses_to_start(env: dict[str, str], named: str) -> None:
    result = _run("api", "--port", "9", **env)
    assert result.returncode == 2
    assert named in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("env", "named", "why"),
    [
        ({"MQ_API_KEYS": KEY, "MQ_WEBHOOK_SECRET": ZEROS}, "MQ_WEBHOOK_SECRET", "repeated"),
        ({"MQ_API_KEYS": KEY, "MQ_WEBHOOK_SECRET": "whsec_REPLACE-ME"}, "MQ_WEBHOOK_SECRET",
         "placeholder"),
        ({"MQ_API_KEYS": "REPLACE-ME:default", "MQ_WEBHOOK_SECRET": SECRET}, "MQ_API_KEYS",
         "placeholder"),
        ({"MQ_API_KEYS": "short:acme", "MQ_WEBHOOK_SECRET": SECRET}, "MQ_API_KEYS", "shorter"),
        ({"MQ_API_KEYS": "abababababab:acme", "MQ_WEBHOOK_SECRET": SECRET}, "MQ_API_KEYS",
         "pattern"),
        ({"MQ_API_KEYS": KEY, "MQ_WEBHOOK_SECRET": SECRET,
          "MQ_FLOWER_BASIC_AUTH": "admin:change-me"}, "MQ_FLOWER_BASIC_AUTH", "placeholder"),
    ],
)  # fmt: skip
def test_weak_secrets_are_refused_naming_the_variable(
    env: dict[str, str], named: str, why: str
) -> None:
    result = _run("api", "--port", "9", **env)
    assert result.returncode == 2
    assert named in result.stderr and why in result.stderr
    assert "Traceback" not in result.stderr
    # The refused values themselves are not repeated in the error
    assert env["MQ_WEBHOOK_SECRET"] not in result.stderr
    assert "abababababab" not in result.stderr and "change-me" not in result.stderr


def test_worker_needs_a_mistral_key_for_the_real_api() -> None:
    result = _run("worker", MQ_WEBHOOK_SECRET=SECRET)
    assert result.returncode == 2
    assert "MISTRAL_API_KEY" in result.stderr


def test_secrets_do_not_appear_in_the_error() -> None:
    result = _run(
        "api", "--port", "9", MQ_API_KEYS=KEY, MQ_WEBHOOK_SECRET="whsec_supersecretvalue!!"
    )
    assert "supersecretvalue" not in result.stderr
