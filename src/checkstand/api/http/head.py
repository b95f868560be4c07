"""``HEAD`` answered wherever ``GET`` is (RFC 9110 asks it of every server): the GET's status and headers, no body.

FastAPI's routes declare GET alone and would answer 405. The route runs as a GET on a copy of the scope, so the
server, which reads the original, still knows to send no body. The copy is marked (:func:`is_head`) for a route
whose GET does something a HEAD must not: a reusable link's visit opens a checkout session.
"""

from __future__ import annotations

from typing import Final

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_HEAD_KEY: Final = "checkstand.head"
# The request headers browsers send on a speculative load (Chromium's Sec-Purpose, Firefox's and older ones).
_PREFETCH_HEADERS: Final = ("sec-purpose", "purpose", "x-purpose", "x-moz")


def is_head(request: Request) -> bool:
    """Whether the GET a route is running is a HEAD answered as one."""
    return bool(request.scope.get(_HEAD_KEY, False))


def is_speculative(request: Request) -> bool:
    """Whether a GET is a browser's prefetch or prerender, which nobody asked to see: a GET that makes something
    (a reusable link's visit) answers it without making anything."""
    return any(
        "prefetch" in value or "prerender" in value or value == "preview"
        for name in _PREFETCH_HEADERS
        if (value := request.headers.get(name, "").lower())
    )


class HeadAsGetMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await self.app({**scope, "method": "GET", _HEAD_KEY: True}, receive, without_body)
