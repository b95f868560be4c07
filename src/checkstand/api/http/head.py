"""``HEAD`` answered wherever ``GET`` is (RFC 9110 asks it of every server): the GET's status and headers, no body.

FastAPI's routes declare GET alone and would answer 405. The route runs as a GET on a copy of the scope, so the
server, which reads the original, still knows to send no body. The copy is marked (:func:`is_head`) for a route
whose GET does something a HEAD must not: a payment link's visit opens a checkout session.
"""

from __future__ import annotations

from typing import Final

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_HEAD_KEY: Final = "checkstand.head"


def is_head(request: Request) -> bool:
    """Whether the GET a route is running is a HEAD answered as one."""
    return bool(request.scope.get(_HEAD_KEY, False))


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
