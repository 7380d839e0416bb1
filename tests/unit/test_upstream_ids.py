"""The Mistral id grammar and one-segment path building (``mistral.ids``)."""

from __future__ import annotations

import pytest

from mistral_queue.mistral.ids import id_path, is_upstream_id

#: Every spelling we could think of that climbs out of a path segment or smuggles one.
HOSTILE = [
    "../agents", "..", ".", "./x", "a/b", "/v1/agents", "a\\b", "%2e%2e%2f", "..%2fagents",
    "%2F", "a%00", "a?x=1", "?x", "a#frag", "#", "a b", " a", "a\n", "a\r\nHost: x", "a\t",
    "a;b", "a&b", "a=b", "a@b", "a+b", "conv_é", "conv\u2215x", "\uff0e\uff0e\uff0f", "a\u200bb",
    "a\x00b", "_leading", "-leading", ":leading", "x" * 201, "", "conv_1/../../agents",
]  # fmt: skip

VALID = [
    "conv_0681fd9a8b6c7a2c8000c1e5ba8ed1c7",
    "ag_0193",
    "ag:3996db2b:20240805:french-agent:a8997aab",
    "5e6b5a3c-1d2f-4a7b-9c0d-1e2f3a4b5c6d",
    "x" * 200,
]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_ids_are_refused_and_never_reach_a_path(value: str) -> None:
    assert not is_upstream_id(value)
    with pytest.raises(ValueError):
        id_path("/v1/conversations", value)


@pytest.mark.parametrize("value", VALID)
def test_mistral_ids_pass_as_one_encoded_segment(value: str) -> None:
    assert is_upstream_id(value)
    path = id_path("/v1/files", value, "content")
    assert path.startswith("/v1/files/") and path.endswith("/content")
    assert path.count("/") == 4
    assert path == f"/v1/files/{value.replace(':', '%3A')}/content"
