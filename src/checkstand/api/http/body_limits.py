"""Every request body is bounded before anything parses it: at most ``CHECKSTAND_MAX_REQUEST_BYTES`` (413 beyond),
and, unless it is a form, JSON at most :data:`~checkstand.core.json_depth.MAX_DEPTH` levels deep (422 beyond).

Depth is checked on every body that isn't a form, whatever its content type says: FastAPI parses a body without
one as JSON, the Stripe webhook hands its raw body to ``json.loads``, and a deep document is a ``RecursionError``
(a 500) in any of them. A body is read into memory once here (it is bounded) and handed on as it came.
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from checkstand.api.http.request_context import request_id
from checkstand.core.json_depth import MAX_DEPTH, nests_deeper_than

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class BodyTooLarge(Exception):
    pass


class BodyLimitsMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        try:
            declared = int(headers.get("content-length", "0"))
        except ValueError:
            declared = 0
        try:
            if declared > self.max_bytes:
                raise BodyTooLarge
            body, more = await self._read(receive)
        except BodyTooLarge:
            await _too_large(scope, self.max_bytes)(scope, receive, send)
            return
        if body and not headers.get("content-type", "").lower().startswith(FORM_TYPES) and nests_deeper_than(body):
            await _too_deep(scope)(scope, receive, send)
            return
        await self.app(scope, _replay(body, more, receive), send)

    async def _read(self, receive: Receive) -> tuple[bytes, list[Message]]:
        """The whole body, and any message that came after it (a disconnect) for the app to see."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return b"".join(chunks), [message]
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                raise BodyTooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks), []


def _replay(body: bytes, more: list[Message], receive: Receive) -> Receive:
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": False}, *more]

    async def replayed() -> Message:
        return pending.pop(0) if pending else await receive()

    return replayed


def _too_large(scope: Scope, max_bytes: int) -> JSONResponse:
    body: dict[str, Any] = {
        "type": "https://checkstand.dev/errors/payload_too_large",
        "title": "Payload too large",
        "detail": f"The request body is larger than {max_bytes} bytes.",
        "status": 413,
        "code": "payload_too_large",
        "request_id": request_id(Request(scope)),
    }
    return JSONResponse(body, status_code=413, headers={"Connection": "close"})


def _too_deep(scope: Scope) -> JSONResponse:
    problem = {"loc": ["body"], "msg": f"JSON must not nest more than {MAX_DEPTH} levels deep", "type": "json_too_deep"}
    return JSONResponse({"detail": [problem], "request_id": request_id(Request(scope))}, status_code=422)
