"""A route class that parses JSON bodies with orjson and bounds their nesting.

orjson is several times faster than ``json`` and its ``JSONDecodeError`` subclasses the
standard one, so FastAPI still answers malformed bodies with our 400. The depth bound keeps
hostile bodies from reaching code with smaller recursion limits (orjson serialises at most
254 levels), answering 422 instead.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi import HTTPException, Request, Response
from fastapi.routing import APIRoute

#: Deepest nesting of arrays and objects a request body may have.
MAX_JSON_DEPTH = 64


def json_depth(value: Any) -> int:
    """Nesting depth of a parsed JSON value (a scalar is 0), computed without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        children = (
            item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        )
        if children is None:
            continue
        deepest = max(deepest, depth + 1)
        if deepest > MAX_JSON_DEPTH:
            break
        stack.extend((child, depth + 1) for child in children)
    return deepest


class OrjsonRequest(Request):
    """A request whose ``json()`` uses orjson and refuses bodies nested too deeply."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = orjson.loads(await self.body())
            if json_depth(body) > MAX_JSON_DEPTH:
                # FastAPI turns anything but HTTPException raised here into a bare 400.
                raise HTTPException(422, f"body: JSON nested deeper than {MAX_JSON_DEPTH} levels")
            self._json = body
        return self._json


class OrjsonRoute(APIRoute):
    """Routes whose handlers see :class:`OrjsonRequest`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            return await handler(OrjsonRequest(request.scope, request.receive))

        return route
