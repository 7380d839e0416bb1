"""How the development receiver shows each delivery in the terminal (rich).

One line per delivery: time, outcome mark, event type, job id, job status, webhook-id;
then an indented one-line view of the result, the error or the pending tool calls. Payload
text is added as plain ``rich.text.Text`` so brackets in model output are never read as markup.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.text import Text

#: Characters of a result shown under an event.
PREVIEW_CHARS = 110

_TYPE_STYLES = {
    "job.succeeded": "green",
    "job.failed": "red",
    "job.cancelled": "yellow",
    "job.requires_action": "magenta",
}
_MARKS = {"accepted": ("✓", "bold green"), "failed": ("↺", "bold yellow")}


def _one_line(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= PREVIEW_CHARS else flat[: PREVIEW_CHARS - 1] + "…"


def _content_text(content: Any) -> str:
    """Text of a Mistral message ``content``: a string or a list of typed chunks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [c.get("text", "") for c in content if isinstance(c, dict)]
        return " ".join(p for p in parts if isinstance(p, str))
    return ""


def _result_text(result: Any) -> str:
    if isinstance(result, dict):
        choices = result.get("choices")
        if isinstance(choices, list) and choices and isinstance(choices[0], dict):
            message = choices[0].get("message") or {}
            return _content_text(message.get("content")) or json.dumps(message)
        outputs = result.get("outputs")
        if isinstance(outputs, list) and outputs and isinstance(outputs[-1], dict):
            return _content_text(outputs[-1].get("content")) or json.dumps(outputs[-1])
    return json.dumps(result, ensure_ascii=False)


def _tool_calls_text(calls: list[Any]) -> str:
    names = [str(c.get("name", "?")) for c in calls if isinstance(c, dict)]
    return "waiting for tool results: " + ", ".join(names)


def preview(data: Mapping[str, Any]) -> tuple[str, str] | None:
    """A short view of a job: ``(style, text)`` for its error, tool calls, progress or result."""
    if data.get("error"):
        error = data["error"]
        message = error.get("message", error) if isinstance(error, dict) else error
        return "red", _one_line(str(message))
    calls = data.get("pending_tool_calls")
    if isinstance(calls, list) and calls:
        return "magenta", _one_line(_tool_calls_text(calls))
    if data.get("result") is not None:
        return "white", _one_line(_result_text(data["result"]))
    progress = data.get("progress")
    if isinstance(progress, dict):
        return "cyan", _one_line(json.dumps(progress))
    return None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _clock(received_at: Any) -> str:
    try:
        return datetime.fromisoformat(str(received_at)).astimezone().strftime("%H:%M:%S")
    except ValueError:
        return "--:--:--"


def _headline(record: Mapping[str, Any]) -> Text:
    line = Text(f"{_clock(record.get('received_at'))}  ", style="dim")
    outcome = record.get("outcome", "accepted")
    if outcome == "rejected":
        line.append("✗ rejected  ", style="bold red")
        line.append(str(record.get("reason", "")), style="red")
        line.append(f"  {record.get('webhook_id') or '-'}", style="dim")
        return line
    mark, style = _MARKS.get(outcome, ("?", "bold"))
    body = _mapping(record.get("body"))
    data = _mapping(body.get("data"))
    event_type = str(body.get("type", "?"))
    colour = _TYPE_STYLES.get(event_type, "bold")
    line.append(f"{mark} ", style=style)
    line.append(event_type, style=colour)
    line.append(f"  {data.get('id', '-')}", style="bold")
    if outcome == "failed":
        line.append(f"  answered {record.get('status')} (planned)", style="yellow")
    else:
        line.append(f"  {data.get('status', '-')}", style=colour)
    line.append(f"  {record.get('webhook_id', '')}", style="dim")
    if record.get("duplicate"):
        line.append("  duplicate", style="yellow")
    return line


def console_printer(console: Console | None = None) -> Callable[[dict[str, Any]], None]:
    """A receiver ``printer`` that writes each delivery to ``console`` (default stdout).

    The record is the one ``/_receiver/events`` lists, plus ``outcome``: ``accepted``,
    ``failed`` (answered a planned non-2xx) or ``rejected`` (bad signature, with ``reason``).
    """
    out = console or Console(highlight=False, soft_wrap=True)

    def show(record: dict[str, Any]) -> None:
        out.print(_headline(record))
        body = record.get("body")
        if record.get("outcome") == "accepted" and isinstance(body, dict):
            data = body.get("data")
            view = preview(data) if isinstance(data, dict) else None
            if view is not None:
                out.print(Text("          ↳ ", style="dim").append(view[1], style=view[0]))

    return show
