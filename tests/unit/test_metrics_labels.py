"""Metrics no tenant can corrupt: bounded model labels and a robust export (issue 13)."""

from __future__ import annotations

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from mistral_queue.metrics import MAX_SERIES, model_label, registry_for

KNOWN = ("mistral-small-latest", "mistral-large-*")

HOSTILE_MODELS = [
    'x",evil="1', "a\nmq_fake_total 1", "a,status=999", "a|b", "a=b", "a\\", "{}", "",
    "mistral-small-latest ", "ünïcode", "x" * 500,
]  # fmt: skip


@pytest.mark.parametrize("model", HOSTILE_MODELS)
def test_a_hostile_model_is_labelled_other(model: str) -> None:
    assert model_label(model, KNOWN) == "other"


def test_configured_models_and_patterns_label_themselves() -> None:
    assert model_label("mistral-small-latest", KNOWN) == "mistral-small-latest"
    assert model_label("mistral-large-2411", KNOWN) == "mistral-large-*"
    assert model_label("agent:ag_123", KNOWN) == "agent"
    # A configured entry that is not a safe label value is never used as one.
    assert model_label('bad"one', ['bad"one']) == "other"


def test_stray_fields_never_break_the_scrape_or_mint_series() -> None:
    # Given fields as an older release (or anyone with Redis) might have left them
    values = {
        'mq_upstream_calls_total|model=x",evil="1,status=200': "1",
        "mq_upstream_calls_total|model=a\nmq_fake_total 1,status=200": "2",
        "mq_upstream_calls_total|model=a,status=200,bad label=1": "3",
        "mq_upstream_calls_total|model=ok,status=200,evil=1": "4",
        "mq_upstream_calls_total|model=mistral-small-latest,status=200": "5",
        "mq_job_run_seconds_bucket|le=x,status=succeeded,type=chat": "1",
        "mq_unknown_total|type=x": "1",
        **{f"mq_tokens_total|kind=prompt,model=m{i}": "1" for i in range(MAX_SERIES + 50)},
    }
    # When the registry is exported
    text = generate_latest(registry_for(values, {"chat": 1})).decode()
    # Then the exposition parses, keeps the good series and mints no label or metric
    families = {f.name: f for f in text_string_to_metric_families(text)}
    calls = families["mq_upstream_calls"].samples
    assert {tuple(sorted(s.labels)) for s in calls} == {("model", "status")}
    assert [s.value for s in calls if s.labels["model"] == "mistral-small-latest"] == [5.0]
    assert "mq_fake" not in families and "mq_unknown" not in families
    assert len(families["mq_tokens"].samples) == MAX_SERIES
