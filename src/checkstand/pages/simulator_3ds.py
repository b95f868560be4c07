"""The simulator's 3-D Secure challenge: the page a customer's bank would show, as a page of Checkstand's own.

It is public and keyed by the charge's ``challenge_token`` (256 random bits), never by the charge id: holding the
link is what makes someone the customer it was sent to. The page shows the amount and the merchant's name and two
buttons; the answer is posted back with a CSRF token and sends the customer on to the charge's ``return_url``.

The CSRF token is an HMAC of the challenge token under the server's secret key: unpredictable without that key,
different for every challenge, the same on every Checkstand process, and nothing to store. Every response forbids
scripts, other hosts' assets, framing and referrers (the URL holds the token), and form posts anywhere but here
and the return URL's origin.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Final
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.accounts import service as accounts
from checkstand.api.http.unit_of_work import Session
from checkstand.api.http.validation import invalid_request
from checkstand.core.errors import Conflict
from checkstand.core.money import format_money
from checkstand.pages import i18n as page_i18n
from checkstand.processors import simulator
from checkstand.processors.base import Outcome
from checkstand.processors.models import SimulatorCharge

router = APIRouter(prefix=simulator.CHALLENGE_PATH.rstrip("/"), tags=["simulator"], include_in_schema=False)

CSRF_FIELD: Final = "csrf_token"
DECISION_FIELD: Final = "decision"
APPROVE: Final = "approve"
FAIL: Final = "fail"
# Longer than any token the simulator issues: answered as unknown without a query.
MAX_TOKEN_LENGTH: Final = 100
_CSRF_CONTEXT: Final = b"checkstand simulator 3ds csrf\x00"

_templates = page_i18n.environment()


@router.get("/{token}", response_class=HTMLResponse)
async def show_challenge(request: Request, token: str, session: Session) -> Response:
    """The challenge, or its outcome once decided."""
    charge = await _find(session, token)
    if charge is None:
        return _not_found(request)
    return await _render(request, session, charge, token, status_code=200)


@router.post("/{token}", response_class=HTMLResponse)
async def decide_challenge(request: Request, token: str, session: Session) -> Response:
    """Record the customer's answer once, then send them back to where the payment continues.

    Not with a redirect: a form's ``form-action`` also governs every redirect that follows its post, and the
    return URL goes on to redirect to the merchant's success URL, an origin this page can't know. The decided page
    refreshes to the return URL instead (a new navigation, as a bank's page posts back), with a link as well."""
    charge = await _find(session, token)
    if charge is None:
        return _not_found(request)
    form = await request.form()
    sent = form.get(CSRF_FIELD)
    expected = _csrf_token(request, token)
    if not isinstance(sent, str) or not hmac.compare_digest(sent.encode(), expected.encode()):
        return _page(request, "forbidden", status_code=403, return_url=charge.return_url)
    decision = form.get(DECISION_FIELD)
    if decision not in (APPROVE, FAIL):
        raise invalid_request(("body", DECISION_FIELD), f"must be {APPROVE!r} or {FAIL!r}", "literal_error")
    try:
        await simulator.decide_challenge(session, charge, approve=decision == APPROVE)
    except Conflict:
        return await _render(request, session, charge, token, status_code=409)
    return await _render(request, session, charge, token, status_code=200, refresh_to=charge.return_url)


async def _find(session: AsyncSession, token: str) -> SimulatorCharge | None:
    if len(token) > MAX_TOKEN_LENGTH:
        return None
    return await simulator.find_challenge(session, token)


def _csrf_token(request: Request, challenge_token: str) -> str:
    key = request.app.state.settings.resolved_secret_key.encode()
    return hmac.new(key, _CSRF_CONTEXT + challenge_token.encode(), hashlib.sha256).hexdigest()


async def _render(
    request: Request,
    session: AsyncSession,
    charge: SimulatorCharge,
    token: str,
    *,
    status_code: int,
    refresh_to: str | None = None,
) -> Response:
    account = await accounts.get_account(session, charge.account_id)
    waiting = charge.status == Outcome.REQUIRES_ACTION
    return _page(
        request,
        "challenge" if waiting else "decided",
        status_code=status_code,
        return_url=charge.return_url,
        merchant=account.name,
        amount=format_money(charge.amount_atom, charge.currency, page_i18n.locale_of(request).formatting),
        card_last4=charge.card_last4,
        approved=charge.status == Outcome.SUCCEEDED,
        csrf_field=CSRF_FIELD,
        csrf_token=_csrf_token(request, token) if waiting else None,
        decision_field=DECISION_FIELD,
        approve=APPROVE,
        fail=FAIL,
        refresh_to=refresh_to,
    )


def _not_found(request: Request) -> Response:
    """The same page for every unknown token: whether a token ever existed is not told."""
    return _page(request, "not_found", status_code=404, return_url=None)


def _page(request: Request, state: str, *, status_code: int, return_url: str | None, **context: object) -> HTMLResponse:
    """In the browser's language: a bank's page knows nothing of the checkout's."""
    resolved = page_i18n.locale_of(request)
    with page_i18n.speaking(resolved):
        html = _templates.get_template("simulator_3ds.html").render(
            state=state, return_url=return_url, html_lang=resolved.language, **context
        )
    return HTMLResponse(html, status_code=status_code, headers=_security_headers(return_url))


def _security_headers(return_url: str | None) -> dict[str, str]:
    # form-action also governs where the form's redirect may lead, so the return URL's origin is allowed too.
    form_action = "'self'"
    if return_url is not None:
        parts = urlsplit(return_url)
        form_action += f" {parts.scheme}://{parts.netloc}"
    return {
        "Content-Security-Policy": (
            f"default-src 'none'; style-src 'self' 'unsafe-inline'; form-action {form_action}; "
            "frame-ancestors 'none'; base-uri 'none'"
        ),
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Cache-Control": "no-store",
    }
