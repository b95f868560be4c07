"""The last line of defence: an exception no handler knew is logged with its traceback and answered as a 500 in
the client's language (chosen by ``respond``), with the request id. Never a stack trace on the wire.

It sits inside the request-context middleware, so the answer carries ``X-Request-Id`` and the access log shows the
500, and outside the unit of work, which has rolled the request back by the time the exception gets here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from checkstand.api.http.request_context import redact_path

logger = logging.getLogger("checkstand.errors")

Responder = Callable[[Scope, str], Response]
"""The 500 to answer for a request (its scope) and its request id."""


class UnhandledErrorMiddleware:
    def __init__(self, app: ASGIApp, respond: Responder) -> None:
        self.app = app
        self.respond = respond

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception:
            logger.exception("unhandled error answering %s %s", scope["method"], redact_path(scope["path"]))
            if started:
                raise  # half a response is out: only the server can end it now (it closes the connection)
            request_id = str(scope.get("state", {}).get("request_id", ""))
            await self.respond(scope, request_id)(scope, receive, send)
