"""Files over plain HTTP: multipart upload, metadata, content, list, delete."""

from __future__ import annotations

import re

import httpx

from tests.emulator.helpers import chat_line, jsonl


def upload(client: httpx.Client, content: bytes, purpose: str = "batch") -> httpx.Response:
    """POST /v1/files as the SDK does (file part as octet-stream, purpose, visibility)."""
    return client.post(
        "/v1/files",
        files={"file": ("in.jsonl", content, "application/octet-stream")},
        data={"purpose": purpose, "visibility": "workspace"},
    )


def test_upload_returns_the_file_object(client: httpx.Client) -> None:
    content = jsonl([chat_line("a", "x"), chat_line("b", "y")])

    response = upload(client, content)

    assert response.status_code == 200, response.text
    stored = response.json()
    assert re.fullmatch(r"[0-9a-f-]{36}", stored["id"])
    assert stored["object"] == "file"
    assert stored["bytes"] == len(content)
    assert stored["num_lines"] == 2
    assert (stored["purpose"], stored["sample_type"], stored["source"]) == (
        "batch",
        "batch_request",
        "upload",
    )
    assert stored["filename"] == "in.jsonl"
    assert isinstance(stored["created_at"], int)


def test_retrieve_download_list_delete(client: httpx.Client) -> None:
    content = jsonl([chat_line("a", "x")])
    file_id = upload(client, content).json()["id"]
    upload(client, b"{}\n", purpose="fine-tune")

    meta = client.get(f"/v1/files/{file_id}").json()
    raw = client.get(f"/v1/files/{file_id}/content")
    listing = client.get("/v1/files", params={"purpose": "batch"}).json()
    url = client.get(f"/v1/files/{file_id}/url").json()["url"]
    deleted = client.delete(f"/v1/files/{file_id}").json()

    assert meta["deleted"] is False
    assert raw.headers["content-type"] == "application/octet-stream"
    assert raw.content == content
    assert listing["object"] == "list"
    assert [f["id"] for f in listing["data"]] == [file_id]
    assert listing["total"] == 1
    assert url.endswith(f"/v1/files/{file_id}/content")
    assert deleted == {"id": file_id, "object": "file", "deleted": True}
    assert client.get(f"/v1/files/{file_id}").status_code == 404
    assert client.get(f"/v1/files/{file_id}/content").status_code == 404


def test_upload_validates(client: httpx.Client) -> None:
    no_file = client.post("/v1/files", data={"purpose": "batch"})
    bad_purpose = upload(client, b"{}\n", purpose="training")

    assert no_file.status_code == 422
    assert bad_purpose.status_code == 422
