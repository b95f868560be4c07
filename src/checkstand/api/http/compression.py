"""gzip for what a client reads, never for an answer that could leak a secret to an attacker measuring its size.

BREACH: a compressed response carrying a secret (a CSRF token, a key shown once) next to text an attacker chooses
(a search box, a refused form's echoed input) leaks the secret through the response's length, over TLS too. The
dashboard carries both on every page, and a form post's answer echoes what was typed, so both go uncompressed; the
API's JSON and the hosted page's ``GET`` carry no attacker-chosen text beside a secret and are compressed."""

from __future__ import annotations

from typing import Final

from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

# Below this a response gains less from gzip than its header and the CPU cost; pages and lists are well above it.
GZIP_MINIMUM_BYTES: Final = 1024
_UNCOMPRESSED_PREFIX: Final = "/dashboard"


class CompressionMiddleware:
    """Starlette's gzip (level 6, zlib's default: most of level 9's saving for a fraction of its CPU) for ``GET`` and
    ``HEAD`` outside the dashboard; everything else passes through untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.gzip = GZipMiddleware(app, minimum_size=GZIP_MINIMUM_BYTES, compresslevel=6)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD") and not _is_dashboard(scope["path"]):
            await self.gzip(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def _is_dashboard(path: str) -> bool:
    return path == _UNCOMPRESSED_PREFIX or path.startswith(f"{_UNCOMPRESSED_PREFIX}/")
