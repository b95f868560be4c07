"""The dashboard's HTTP plumbing: who is signed in, CSRF, where a sign-in may send the browser next, and pages
rendered with the hosted page's strict headers.

Every dashboard page is server-rendered and works without JavaScript; the one script (a copy button) is served from
the dashboard's own static files. A view is given the signed-in user by :data:`SignedInUser` (a signed-out request
is sent to sign in, with the page it asked for kept as a local path), and a form's handler its checked form by
:data:`CheckedForm` (no CSRF token of the session: 403, before anything else is read)."""

from __future__ import annotations

import hashlib
import hmac
import re
from pathlib import Path
from typing import Annotated, Final
from urllib.parse import quote, urlencode

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader
from starlette.datastructures import FormData

from checkstand.api.http import client_address
from checkstand.core.money import format_money
from checkstand.dashboard import signin
from checkstand.db import Database

PREFIX: Final = "/dashboard"
HOME: Final = f"{PREFIX}/"
SIGN_IN: Final = f"{PREFIX}/sign-in"
STATIC_PATH: Final = f"{PREFIX}/static"


def is_dashboard(path: str) -> bool:
    """Whether a request is the dashboard's (a failure there answers with a page, not the API's JSON)."""
    return path == PREFIX or path.startswith(f"{PREFIX}/")


STATIC: Final = StaticFiles(directory=Path(__file__).parent / "static")
SESSION_COOKIE: Final = "checkstand_dashboard"
# A signed-out browser's own random value: the sign-in forms' CSRF token is its HMAC under the server's key.
PRE_SESSION_COOKIE: Final = "checkstand_dashboard_signin"
CSRF_FIELD: Final = "csrf_token"
NEXT_FIELD: Final = "next"
_CSRF_CONTEXT: Final = b"checkstand dashboard sign-in csrf\x00"
# Where a sign-in may lead: a dashboard path and query, nothing that a browser could read as another host
# ("//evil", "/\\evil", a scheme) or a header could carry (control characters).
_LOCAL_NEXT: Final = re.compile(r"^/dashboard(/[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*)?$")
MAX_NEXT_LENGTH: Final = 2000

HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}

NAV: Final = (
    ("Home", HOME),
    ("Checkout sessions", f"{PREFIX}/checkout-sessions"),
    ("Create checkout", f"{PREFIX}/checkout-sessions/new"),
    ("Payment links", f"{PREFIX}/payment-links"),
    ("Payments", f"{PREFIX}/payments"),
    ("Subscriptions", f"{PREFIX}/subscriptions"),
    ("Customers", f"{PREFIX}/customers"),
    ("Products", f"{PREFIX}/products"),
    ("Product families", f"{PREFIX}/product-families"),
    ("Coupons", f"{PREFIX}/coupons"),
    ("Custom fields", f"{PREFIX}/custom-fields"),
    ("Processors", f"{PREFIX}/processors"),
    ("Branding", f"{PREFIX}/branding"),
    ("Webhooks", f"{PREFIX}/webhook-endpoints"),
    ("Events", f"{PREFIX}/events"),
    ("API keys", f"{PREFIX}/api-keys"),
)

templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=True, auto_reload=False
)
templates.filters["money"] = lambda atom, currency: format_money(atom, currency)


class SignInRequired(Exception):
    """Raised by :data:`SignedInUser`; the app answers with a redirect to the sign-in page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class CsrfRefused(Exception):
    """A form post without its session's token: answered 403 and nothing read or changed."""


def database(request: Request) -> Database:
    db: Database = request.app.state.database
    return db


def secure_cookies(request: Request) -> bool:
    """Secure cookies whenever customers and merchants reach Checkstand over https."""
    return bool(request.app.state.settings.resolved_public_url.startswith("https://"))


def client_ip(request: Request) -> str:
    """The address sign-in failures are counted under (:mod:`checkstand.api.http.client_address`)."""
    return client_address.client_ip(request) or "unknown"


def local_next(value: object) -> str:
    """Where to go after sign-in: the path asked for if it is a dashboard path, else the dashboard's home."""
    if isinstance(value, str) and len(value) <= MAX_NEXT_LENGTH and "//" not in value and _LOCAL_NEXT.match(value):
        return value
    return HOME


async def _signed_in(request: Request) -> signin.SignedIn:
    token = request.cookies.get(SESSION_COOKIE)
    found = None
    if token:
        async with database(request).reading() as session:
            found = await signin.find_session(session, token)
    if found is None:
        wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(local_next(wanted) if request.method == "GET" else HOME)
    if signin.needs_touch(found):
        # Its own short transaction, before the request's unit of work begins: on SQLite a second writer inside
        # a writing request would wait on itself.
        async with database(request).writing() as session:
            await signin.touch(session, found)
            await session.commit()
    return found


SignedInUser = Annotated[signin.SignedIn, Depends(_signed_in)]


async def _checked_form(request: Request, user: SignedInUser) -> FormData:
    form = await request.form()
    if not _same(form.get(CSRF_FIELD), user.csrf_token):
        raise CsrfRefused
    return form


CheckedForm = Annotated[FormData, Depends(_checked_form)]


def _same(sent: object, expected: str) -> bool:
    return isinstance(sent, str) and hmac.compare_digest(sent.encode(), expected.encode())


def pre_session_csrf(request: Request, pre_session: str) -> str:
    key = request.app.state.settings.resolved_secret_key.encode()
    return hmac.new(key, _CSRF_CONTEXT + pre_session.encode(), hashlib.sha256).hexdigest()


def pre_session_form_ok(request: Request, form: FormData) -> bool:
    pre_session = request.cookies.get(PRE_SESSION_COOKIE)
    return bool(pre_session) and _same(form.get(CSRF_FIELD), pre_session_csrf(request, pre_session or ""))


def render(
    request: Request,
    template: str,
    *,
    user: signin.SignedIn | None = None,
    status_code: int = 200,
    **context: object,
) -> HTMLResponse:
    html = templates.get_template(template).render(
        static=STATIC_PATH,
        user=user,
        csrf_token=user.csrf_token if user is not None else context.pop("csrf_token", None),
        nav=NAV if user is not None else (),
        active_nav=_active_nav(request.url.path),
        **context,
    )
    return HTMLResponse(html, status_code=status_code, headers=dict(HEADERS))


def _active_nav(path: str) -> str | None:
    """The nav entry the page is under: the longest that starts its path (Home only for itself)."""
    under = [href for _, href in NAV if path == href or (href != HOME and path.startswith(href))]
    return max(under, key=len, default=None)


def not_found(request: Request, user: signin.SignedIn) -> HTMLResponse:
    """The same page whether the id is another account's or nobody's."""
    return render(request, "not_found.html", user=user, status_code=404)


def redirect(location: str) -> RedirectResponse:
    return RedirectResponse(location, status_code=303, headers=dict(HEADERS))


def set_session_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(signin.ABSOLUTE_TIMEOUT.total_seconds()),
        path=PREFIX,
        secure=secure_cookies(request),
        httponly=True,
        samesite="lax",
    )


def clear_session_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path=PREFIX, secure=secure_cookies(request), httponly=True, samesite="lax")


def set_pre_session_cookie(request: Request, response: Response, value: str) -> None:
    response.set_cookie(
        PRE_SESSION_COOKIE, value, path=PREFIX, secure=secure_cookies(request), httponly=True, samesite="lax"
    )


def sign_in_location(next_path: str) -> str:
    return SIGN_IN if next_path == HOME else f"{SIGN_IN}?{urlencode({NEXT_FIELD: next_path}, quote_via=quote)}"


async def sign_in_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInRequired)
    return redirect(sign_in_location(exc.next_path))


async def csrf_refused(request: Request, exc: Exception) -> Response:
    return render(request, "refused.html", status_code=403)
