"""The client's address, read one way by every limit that counts per address (the dashboard's sign-in throttle,
payment links' visits, the confirm rate limits).

``request.client`` is the TCP peer, unless that peer is a trusted proxy (``CHECKSTAND_TRUSTED_PROXIES``): then
uvicorn's ``ProxyHeadersMiddleware``, which the app installs, has put the address the proxy forwarded in its place.
An ``X-Forwarded-For`` from anyone else is never read, so a client can't pick the address it is counted under.
"""

from __future__ import annotations

from typing import Final

from starlette.requests import Request

# The columns an address is counted in hold this much. A forwarded address is whatever the proxies passed on: when
# every hop is trusted, uvicorn takes the leftmost entry, which the client itself may have written.
MAX_LENGTH: Final = 64


def client_ip(request: Request) -> str | None:
    """None only for a transport that has no peer (an ASGI client in a test can leave it out)."""
    return request.client.host[:MAX_LENGTH] if request.client else None
