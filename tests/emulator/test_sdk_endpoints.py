"""The official SDK against the emulator's other endpoints: FIM, moderations,
classifications, OCR, embeddings options, agent aliases and pages, batch endpoints, and
Mistral's error body for unknown routes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import cast

import httpx
import pytest
from mistralai.client import Mistral, errors, models

from mistral_queue.dev.emulator.server import RunningEmulator
from tests.emulator.helpers import API_KEY, http_client
from tests.emulator.test_sdk_batch import wait

FAULT_503 = {"x-emulator-fault": "503"}


@pytest.fixture
def sdk(emulator: RunningEmulator) -> Iterator[Mistral]:
    with Mistral(api_key=API_KEY, server_url=emulator.base_url, timeout_ms=10_000) as client:
        yield client


def test_fim_complete_and_stream(sdk: Mistral) -> None:
    whole = sdk.fim.complete(model="codestral-latest", prompt="def add(a, b):", suffix="return c")
    text, usage = "", None
    with sdk.fim.stream(model="codestral-latest", prompt="def add(a, b):", suffix="return c") as ev:
        for event in ev:
            piece = event.data.choices[0].delta.content
            text += piece if isinstance(piece, str) else ""
            usage = event.data.usage or usage

    message = whole.choices[0].message
    assert message is not None and message.content == "<fill for 8 prompt and 2 suffix tokens>"
    assert text == message.content
    assert whole.usage.prompt_tokens == 10
    assert usage is not None and usage.total_tokens == whole.usage.total_tokens
    with pytest.raises(errors.SDKError) as refused:
        sdk.fim.complete(model="mistral-small-latest", prompt="x")
    assert refused.value.status_code == 400


def test_moderations(sdk: Mistral) -> None:
    texts = sdk.classifiers.moderate(
        model="mistral-moderation-latest", inputs=["a violence threat", "a nice day"]
    )
    chat: list[models.ChatModerationRequestInputs1] = [
        models.UserMessage(content="hate speech"),
        models.AssistantMessage(content="no"),
    ]
    moderated = sdk.classifiers.moderate_chat(
        model="mistral-moderation-latest",
        inputs=chat,
    )

    assert len(texts.results) == 2
    assert texts.results[0].categories is not None and texts.results[1].categories is not None
    assert texts.results[0].categories["violence_and_threats"] is True
    assert not any(texts.results[1].categories.values())
    assert len(moderated.results) == 1 and moderated.results[0].categories is not None
    assert moderated.results[0].categories["hate_and_discrimination"] is True
    with pytest.raises(errors.SDKError):
        sdk.classifiers.moderate(
            model="mistral-moderation-latest", inputs="x", http_headers=FAULT_503
        )


def test_classifications(sdk: Mistral) -> None:
    model = "ft:classifier:ministral-3b:abc:intent"
    texts = sdk.classifiers.classify(model=model, inputs=["hello there", "is it?"])
    chat = sdk.classifiers.classify_chat(
        model=model,
        input=[models.InstructRequest(messages=[models.UserMessage(content="what time?")])],
    )

    scores = [result["intent"].scores for result in texts.results]
    assert [max(s, key=s.__getitem__) for s in scores] == ["greeting", "question"]
    assert chat.results[0]["intent"].scores["question"] == 0.8


def test_ocr_document_image_and_file(sdk: Mistral) -> None:
    document = sdk.ocr.process(
        model="mistral-ocr-latest",
        document={"type": "document_url", "document_url": "https://x.test/a.pdf?pages=3"},
        pages=[0, 2],
    )
    image = sdk.ocr.process(
        model="mistral-ocr-latest",
        document={"type": "image_url", "image_url": "https://x.test/a.png"},
    )
    uploaded = sdk.files.upload(
        file=models.File(file_name="scan.txt", content=b"one\fTwo"), purpose="ocr"
    )
    from_file = sdk.ocr.process(
        model="mistral-ocr-latest", document={"type": "file", "file_id": uploaded.id}
    )

    assert [p.index for p in document.pages] == [0, 2]
    assert document.pages[1].markdown.startswith("# Page 3")
    assert document.usage_info.pages_processed == 2
    assert len(image.pages) == 1
    assert [p.markdown for p in from_file.pages] == ["one", "Two"]
    assert from_file.usage_info.doc_size_bytes == 7
    with pytest.raises(errors.SDKError) as out_of_range:
        sdk.ocr.process(
            model="mistral-ocr-latest",
            document={"type": "document_url", "document_url": "https://x.test/a.pdf"},
            pages=[5],
        )
    assert out_of_range.value.status_code == 400


def test_embeddings_dimension_and_dtype(sdk: Mistral) -> None:
    floats = sdk.embeddings.create(model="mistral-embed", inputs=["x"], output_dimension=16)
    int8 = sdk.embeddings.create(
        model="mistral-embed", inputs=["x"], output_dimension=16, output_dtype="int8"
    )
    binary = sdk.embeddings.create(
        model="mistral-embed", inputs=["x"], output_dimension=16, output_dtype="ubinary"
    )

    vector = floats.data[0].embedding
    assert vector is not None and len(vector) == 16
    quantized = int8.data[0].embedding
    assert quantized is not None and all(-128 <= v <= 127 and v == int(v) for v in quantized)
    assert [v > 0 for v in quantized] == [v > 0 for v in vector]
    bits = binary.data[0].embedding
    assert bits is not None and len(bits) == 2
    assert all(0 <= v <= 255 for v in bits)


def test_agent_aliases_and_pages(sdk: Mistral) -> None:
    agents = [sdk.beta.agents.create(model="mistral-small-latest", name=f"a{i}") for i in range(3)]
    first = agents[0]
    sdk.beta.agents.update(agent_id=first.id, description="v1")
    alias = sdk.beta.agents.create_version_alias(agent_id=first.id, alias="prod", version=0)
    pinned = sdk.beta.agents.get(agent_id=first.id, agent_version="prod")
    aliases = sdk.beta.agents.list_version_aliases(agent_id=first.id)

    seen = []
    page = sdk.beta.agents.list_pages(page_size=2)
    while page is not None:
        seen += [agent.id for agent in page.result.data]
        page = cast(models.AgentsAPIV1AgentsListPagesResponse | None, page.next())

    assert (alias.alias, alias.version) == ("prod", 0)
    assert pinned.version == 0 and pinned.description is None
    assert [a.alias for a in aliases] == ["prod"]
    assert seen == [a.id for a in reversed(agents)]
    sdk.beta.agents.delete_version_alias(agent_id=first.id, alias="prod")
    with pytest.raises(errors.SDKError) as gone:
        sdk.beta.agents.get(agent_id=first.id, agent_version="prod")
    assert gone.value.status_code == 404


@pytest.mark.parametrize(
    ("endpoint", "model", "body", "field"),
    [
        ("/v1/fim/completions", "codestral-latest", {"prompt": "def f():"}, "choices"),
        ("/v1/moderations", "mistral-moderation-latest", {"input": ["x"]}, "results"),
        ("/v1/chat/moderations", "mistral-moderation-latest",
         {"input": [{"role": "user", "content": "x"}]}, "results"),
        ("/v1/classifications", "ft:classifier:m:1", {"input": "hi"}, "results"),
        ("/v1/chat/classifications", "ft:classifier:m:1",
         {"input": {"messages": [{"role": "user", "content": "hi"}]}}, "results"),
        ("/v1/ocr", "mistral-ocr-latest",
         {"document": {"type": "document_url", "document_url": "https://x.test/d"}}, "pages"),
    ],
)  # fmt: skip
def test_batch_takes_every_endpoint(
    sdk: Mistral, endpoint: str, model: str, body: dict[str, object], field: str
) -> None:
    bad = {**body, "unexpected": 1}
    job = sdk.batch.jobs.create(
        requests=[
            models.BatchRequest(custom_id="ok", body=body),
            models.BatchRequest(custom_id="bad", body=bad),
        ],
        endpoint=endpoint,  # type: ignore[arg-type]
        model=model,
    )
    done = wait(sdk, job.id)
    lines = {
        line["custom_id"]: line
        for line in sdk.batch.jobs.get(job_id=job.id, inline=True).outputs or []
    }

    assert (done.status, done.succeeded_requests, done.failed_requests) == ("SUCCESS", 1, 1)
    assert field in lines["ok"]["response"]["body"]
    assert lines["bad"]["response"]["status_code"] == 422


def test_unknown_route_and_method_answer_mistral_error_body(emulator: RunningEmulator) -> None:
    with http_client(emulator) as http:
        missing = http.get("/v1/no/such/route")
        wrong = http.delete("/v1/ocr")
    with httpx.Client(base_url=emulator.base_url) as anonymous:
        unauthenticated = anonymous.get("/v1/no/such/route")

    assert missing.status_code == 404
    assert missing.json()["object"] == "error" and missing.json()["code"] == "not_found"
    assert "detail" not in missing.json()
    assert wrong.status_code == 405 and wrong.json()["code"] == "method_not_allowed"
    assert "POST" in wrong.headers["allow"]
    assert unauthenticated.status_code == 401
