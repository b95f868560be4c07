"""The page a customer sees when Checkstand itself failed: what happened in plain words and a reference to quote,
never a stack trace. Served under the hosted pages' prefixes by the app's last-resort error handler."""

from __future__ import annotations

from pathlib import Path
from typing import Final

from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader

from checkstand.pages import checkout, simulator_3ds
from checkstand.payment_links.service import PUBLIC_PATH as PAYMENT_LINKS_PATH

# The paths whose failures answer with this page instead of the API's JSON.
PAGE_PREFIXES: Final = (f"{checkout.router.prefix}/", f"{simulator_3ds.router.prefix}/", f"{PAYMENT_LINKS_PATH}/")

_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=True, auto_reload=False
)


def is_page(path: str) -> bool:
    return path.startswith(PAGE_PREFIXES)


def server_error_page(request_id: str) -> HTMLResponse:
    html = _templates.get_template("server_error.html").render(static=checkout.STATIC_PATH, request_id=request_id)
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
