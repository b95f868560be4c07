"""Request ids and the access log.

Every response carries ``X-Request-Id`` (and every error body its ``request_id``) so a merchant's support ticket can
be matched to a log line: every line logged while serving a request carries its id (:data:`REQUEST_ID`). The access
log replaces uvicorn's because a hosted page's path carries the session's ``secure_token``, which must never reach a
log.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from checkstand.core.ids import new_id
from checkstand.observability.logs import REQUEST_ID

logger = logging.getLogger("checkstand.access")

HEADER = "X-Request-Id"
_ACCEPTED_INCOMING_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")
# Hosted pages, the public confirm API and the simulator's 3-D Secure page are keyed by a token in the path:
# /c/<token>/..., /public/<token>/..., /simulator/3ds/<token>
_TOKEN_IN_PATH = re.compile(r"^(/(?:c|public|api/public/checkout|simulator/3ds)/)[^/]+")


def request_id(request: Request) -> str:
    return str(request.scope.get("state", {}).get("request_id", ""))


def redact_path(path: str) -> str:
    return _TOKEN_IN_PATH.sub(r"\1[token]", path)


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(HEADER.lower().encode(), b"").decode("latin-1")
        rid = incoming if _ACCEPTED_INCOMING_ID.match(incoming) else new_id("req")
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = rid
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", []).append((HEADER.lower().encode(), rid.encode()))
            await send(message)

        context = REQUEST_ID.set(rid)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            logger.info(
                '"%s %s" %d %.1fms',
                scope["method"],
                redact_path(scope["path"]),
                status,
                (time.perf_counter() - started) * 1000,
            )
            REQUEST_ID.reset(context)
