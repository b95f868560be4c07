"""A 405 names every method its path allows (RFC 9110), not only those of the one route that answered.

FastAPI registers one route per operation, so ``GET /prices/`` and ``POST /prices/`` are two routes; the router's
405 lists the methods of the first route whose path matched (or none). This corrects the header from the app's own
routes as the response leaves: a client (or the SDK's generator) learns the truth from it.
"""

from __future__ import annotations

from starlette.routing import Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ALLOW = b"allow"
PROBED_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
STATIC_METHODS = frozenset({"GET", "HEAD"})


class AllowedMethodsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        # As it arrives: routing updates the scope in place (a mount's path, its app).
        arrived = dict(scope)

        async def send_with_allow(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 405:
                headers = [(name, value) for name, value in message.get("headers", []) if name.lower() != ALLOW]
                headers.append((ALLOW, ", ".join(allowed_methods(arrived)).encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_allow)


def allowed_methods(scope: Scope) -> list[str]:
    """The methods the app's router would take for the request's path, asked of every route through Starlette's
    ``matches`` (included routers too), ``HEAD`` wherever ``GET`` is; a mount is static files (``GET``, ``HEAD``)."""
    methods: set[str] = set()
    for route in getattr(getattr(scope.get("app"), "router", None), "routes", []):
        if isinstance(route, Mount):
            if route.matches(scope)[0] != Match.NONE:
                methods |= STATIC_METHODS
            continue
        methods.update(
            method for method in PROBED_METHODS if route.matches({**scope, "method": method})[0] == Match.FULL
        )
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)
