"""A payment link's public URL: every real visit opens a checkout session of its own and sends the customer to its
hosted page (303); the link is never paid itself.

Only a visit a person makes opens a session. A HEAD (a link checker) and a browser's prefetch or prerender
(``Sec-Purpose: prefetch``) read the link's state and open nothing: a HEAD is answered 200 for a link taking visits,
a prefetch 503, which makes the browser discard it and load the link for real when it is followed. Visits from one
client address are counted per link (:func:`checkstand.payment_links.service.open_visit`), so a burst stops at the
limit instead of filling the database. An inactive link says it is no longer available (410); every answer
carries the hosted page's strict headers and is never cached.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from checkstand.api.http.client_address import client_ip
from checkstand.api.http.head import is_head, is_speculative
from checkstand.core.errors import Conflict, NotFound, RateLimited
from checkstand.core.i18n import N_
from checkstand.pages import i18n as page_i18n
from checkstand.pages.checkout import MAX_TOKEN_LENGTH, STATIC_PATH
from checkstand.pages.checkout import router as checkout_router
from checkstand.payment_links import service as payment_links

router = APIRouter(prefix=payment_links.PUBLIC_PATH, tags=["payment links"], include_in_schema=False)

_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' https:; form-action 'self'; frame-ancestors 'none'; "
        "base-uri 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
INACTIVE: Final = (
    N_("Link no longer available"),
    N_("This payment link is no longer available. Please contact the merchant."),
)
UNAVAILABLE: Final = (
    N_("Checkout unavailable"),
    N_("This checkout can't be bought right now. Please contact the merchant."),
)
TOO_MANY: Final = (
    N_("Too many checkouts"),
    N_("Too many checkouts were opened from your network with this link. Please try again in a few minutes."),
)

_templates = page_i18n.environment()


@router.get("/{token}", response_class=HTMLResponse)
async def visit_payment_link(request: Request, token: str) -> Response:
    """The request's unit of work is left unused: a visit holding a reading connection while it waits for a writing
    one would, in a burst, take every connection of the pool and wait for itself."""
    if len(token) > MAX_TOKEN_LENGTH:
        return _page(request, "not_found.html", 404)
    async with request.app.state.database.reading() as reading:
        link = await payment_links.find_by_token(reading, token)
        active = link is not None and link.is_active
    if link is None:
        return _page(request, "not_found.html", 404)
    if not active:
        return _closed(request, INACTIVE, 410)
    if is_head(request):
        return Response(status_code=200, media_type="text/html", headers=_HEADERS)
    if is_speculative(request):
        return _closed(request, UNAVAILABLE, 503)
    settings = request.app.state.settings
    limit = payment_links.VisitLimit(
        window=timedelta(seconds=settings.confirm_rate_window_seconds),
        max_visits_per_ip=settings.payment_link_max_visits_per_ip,
    )
    try:
        async with request.app.state.database.writing() as writing:
            checkout = await payment_links.open_visit(writing, token, client_ip(request), limit)
            await writing.commit()
    except NotFound:
        return _page(request, "not_found.html", 404)
    except RateLimited:
        return _closed(request, TOO_MANY, 429)
    except Conflict as refused:
        return (
            _closed(request, INACTIVE, 410)
            if refused.code == payment_links.INACTIVE
            else _closed(request, UNAVAILABLE, 409)
        )
    return RedirectResponse(f"{checkout_router.prefix}/{checkout.secure_token}", status_code=303, headers=_HEADERS)


def _closed(request: Request, wording: tuple[str, str], status_code: int) -> HTMLResponse:
    # Marked where they are defined (N_), translated by the template in the browser's language.
    title, message = wording
    return _page(request, "payment_link_closed.html", status_code, title=title, message=message)


def _page(request: Request, template: str, status_code: int, **context: object) -> HTMLResponse:
    """In the browser's language: a link has no session, hence no locale, of its own."""
    resolved = page_i18n.locale_of(request)
    with page_i18n.speaking(resolved):
        html = _templates.get_template(template).render(
            static=STATIC_PATH, success_url=None, html_lang=resolved.language, **context
        )
    return HTMLResponse(html, status_code=status_code, headers=_HEADERS)
