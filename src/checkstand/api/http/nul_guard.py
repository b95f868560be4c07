"""PostgreSQL text can't hold a NUL character: one reaching a query is a database error (a 500) there, and a
silent difference from SQLite. Refused at the edge instead, for the path and query here and, for JSON bodies, by
:class:`checkstand.api.paymentkit.common.WireModel`."""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from checkstand.api.http.request_context import request_id
from checkstand.core.nul import NUL


class NulGuardMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            where = _nul_location(scope)
            if where is not None:
                from starlette.requests import Request

                body = {
                    "detail": [{"loc": [where], "msg": "must not contain NUL characters", "type": "string_nul"}],
                    "request_id": request_id(Request(scope)),
                }
                await JSONResponse(body, status_code=422)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _nul_location(scope: Scope) -> str | None:
    if NUL in scope["path"]:
        return "path"
    query: bytes = scope.get("query_string", b"")
    if b"%00" in query or b"\x00" in query:
        return "query"
    return None
