"""The page a customer sees when Checkstand itself failed: what happened in plain words and a reference to quote,
never a stack trace. Served under the hosted pages' prefixes by the app's last-resort error handler."""

from __future__ import annotations

from typing import Final

from fastapi.responses import HTMLResponse

from checkstand.core import i18n
from checkstand.pages import checkout, simulator_3ds
from checkstand.pages import i18n as page_i18n
from checkstand.payment_links.service import PUBLIC_PATH as PAYMENT_LINKS_PATH

# The paths whose failures answer with this page instead of the API's JSON.
PAGE_PREFIXES: Final = (f"{checkout.router.prefix}/", f"{simulator_3ds.router.prefix}/", f"{PAYMENT_LINKS_PATH}/")

_templates = page_i18n.environment()


def is_page(path: str) -> bool:
    return path.startswith(PAGE_PREFIXES)


def server_error_page(request_id: str, accept_language: str | None = None) -> HTMLResponse:
    """In the browser's language: reading the session's could fail as the request did."""
    resolved = i18n.negotiate(accept_language)
    with page_i18n.CATALOGS.speaking(resolved.language):
        html = _templates.get_template("server_error.html").render(
            static=checkout.STATIC_PATH, request_id=request_id, html_lang=resolved.language
        )
    return HTMLResponse(
        html,
        status_code=500,
        headers={
            "Content-Security-Policy": (
                "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'none'; "
                "frame-ancestors 'none'; base-uri 'none'"
            ),
            "Referrer-Policy": "no-referrer",
            "X-Content-Type-Options": "nosniff",
            "X-Frame-Options": "DENY",
            "Cache-Control": "no-store",
        },
    )
