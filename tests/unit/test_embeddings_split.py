"""How an embeddings job splits its input into calls (``tasks.embeddings.spans``)."""

from __future__ import annotations

from mistral_queue.tasks.embeddings import spans


def test_inputs_per_call_cap() -> None:
    assert spans(["a"] * 5, max_inputs=2, max_tokens=100) == [(0, 2), (2, 4), (4, 5)]


def test_token_cap_estimated_from_length() -> None:
    # 40 characters are 10 estimated tokens: two fit under 25, a third does not.
    texts = ["x" * 40] * 5
    assert spans(texts, max_inputs=100, max_tokens=25) == [(0, 2), (2, 4), (4, 5)]


def test_a_text_over_the_cap_goes_alone() -> None:
    texts = ["short", "y" * 1000, "short"]
    assert spans(texts, max_inputs=100, max_tokens=10) == [(0, 1), (1, 2), (2, 3)]


def test_every_input_is_covered_once_in_order() -> None:
    texts = [str(i) * (i % 7 + 1) for i in range(1000)]
    ranges = spans(texts, max_inputs=64, max_tokens=50)
    flat = [i for start, end in ranges for i in range(start, end)]
    assert flat == list(range(1000))
    assert all(end - start <= 64 for start, end in ranges)
