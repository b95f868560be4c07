"""The hosted checkout page: what a customer opens from a session's ``url``, keyed by its ``secure_token`` only.

Server-rendered and complete without JavaScript: one plain form that either applies a promotion code or pays. It
goes through the same service calls as the public checkout API (:mod:`checkstand.api.public_checkout`), so every
business rule (amounts, rate limits, one charge per session) lives in :mod:`checkstand.payments.attempts`, and no
amount is ever read from the form. The page shows only what a customer may see: no metadata, no internal ids.

Posts carry a CSRF token that is an HMAC of the secure token under the server's secret key (as the simulator's
3-D Secure page does): unpredictable without the key, different per session, nothing to store. Every response
forbids scripts, other hosts' assets but https images (the merchant's logo), framing, referrers (the URL holds the
token) and caching.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from pathlib import Path
from typing import Annotated, Final
from urllib.parse import urlsplit

from babel import Locale, UnknownLocaleError
from email_validator import EmailNotValidError, validate_email
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData

from checkstand.accounts import service as accounts
from checkstand.checkout import service as checkout_service
from checkstand.checkout.models import OPEN, PRIMARY_TIER, SUCCESS, CheckoutSession
from checkstand.core.errors import Conflict, InvalidFields, NotFound, RateLimited
from checkstand.core.money import format_money
from checkstand.core.unit_of_work import db_session
from checkstand.payments import attempts
from checkstand.payments.models import CheckoutAttempt
from checkstand.payments.processors.base import CardDetails, PaymentMethod

router = APIRouter(prefix="/c", tags=["hosted checkout"], include_in_schema=False)

Session = Annotated[AsyncSession, Depends(db_session)]

# The page's stylesheet: the app mounts this at STATIC_PATH (``style-src 'self'`` allows nothing inline).
STATIC_PATH: Final = "/static"
STATIC: Final = StaticFiles(directory=Path(__file__).parent / "static")

CSRF_FIELD: Final = "csrf_token"
ACTION_FIELD: Final = "action"
APPLY: Final = "apply"
PAY: Final = "pay"
ATTEMPT_PARAM: Final = "checkout_attempt_id"
DEFAULT_LOCALE: Final = "en_US"
# Longer than any token Checkstand issues: answered as unknown without a query.
MAX_TOKEN_LENGTH: Final = 100
_CSRF_CONTEXT: Final = b"checkstand hosted checkout csrf\x00"
_HEX_COLOR: Final = re.compile(r"^#[0-9a-fA-F]{6}$")
# The page's form fields, named as the public API names them in an error's ``loc``.
_FIELDS: Final = ("name", "email", "card_number", "exp_month", "exp_year", "cvc", "promotion_code")
# Card data is never written back into a page (not even after a decline): the customer types it again.
_SECRET_FIELDS: Final = ("card_number", "cvc")

_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=True, auto_reload=False
)


@router.get("/{token}", response_class=HTMLResponse)
async def show_checkout(request: Request, token: str, session: Session) -> Response:
    """The page; back from a 3-D Secure challenge (``checkout_attempt_id``), the attempt is settled first."""
    checkout = await _find(session, token)
    if checkout is None:
        return _not_found()
    attempt_id = request.query_params.get(ATTEMPT_PARAM)
    if attempt_id is None or len(attempt_id) > MAX_TOKEN_LENGTH:
        return await _render(request, session, checkout)
    try:
        attempt = await attempts.resume(_gateway(request), token, attempt_id)
    except NotFound:
        return await _render(request, session, checkout)
    return await _outcome(request, token, attempt)


@router.get("/{token}/theme.css")
async def theme(token: str, session: Session) -> Response:
    """The account's accent colour as a stylesheet: the strict policy allows no inline style."""
    checkout = await _find(session, token)
    color = None
    if checkout is not None:
        account = await accounts.get_account(session, checkout.account_id)
        color = account.brand_settings.get("accent_color")
    css = f":root {{ --accent: {color}; }}\n" if isinstance(color, str) and _HEX_COLOR.match(color) else ""
    return Response(css, media_type="text/css", headers=_security_headers(None))


@router.post("/{token}", response_class=HTMLResponse)
async def submit_checkout(request: Request, token: str) -> Response:
    """Apply a promotion code or pay, whichever button was pressed; only the server's amounts are ever charged."""
    gateway = _gateway(request)
    async with gateway.database.reading() as session:
        checkout = await _find(session, token)
    if checkout is None:
        return _not_found()
    form = await request.form()
    sent = form.get(CSRF_FIELD)
    if not isinstance(sent, str) or not hmac.compare_digest(sent.encode(), _csrf_token(request, token).encode()):
        return _page("checkout_closed.html", status_code=403, success_url=None, refused=True, return_url=None)
    values = {name: _text(form, name) for name in _FIELDS if name not in _SECRET_FIELDS}
    if _text(form, ACTION_FIELD) == APPLY:
        return await _apply_code(request, token, values)
    return await _pay(request, token, form, values)


async def _apply_code(request: Request, token: str, values: dict[str, str]) -> Response:
    code = values["promotion_code"].strip()
    if not code:
        return await _rerender(request, token, values, {"promotion_code": "Enter a promotion code."}, 422)
    try:
        async with _gateway(request).database.writing() as session:
            found = await attempts.find_by_token(session, token)
            checkout = await checkout_service.lock_session(session, found.account_id, found.id)
            if not checkout_service.is_open(checkout):
                return await _render(request, session, checkout, status_code=409)
            await attempts.apply_promotion_code(session, checkout, code)
            await session.commit()
    except InvalidFields as refused:
        return await _rerender(request, token, values, _field_errors(refused), 422)
    return await _rerender(request, token, values, {}, 200, notice="Promotion code applied.")


async def _pay(request: Request, token: str, form: FormData, values: dict[str, str]) -> Response:
    errors = _local_errors(values)
    card = _card(form, values, errors)
    if card is None:
        return await _rerender(request, token, values, errors, 422)
    confirmation = attempts.Confirmation(
        payment_method=PaymentMethod(card=card),
        customer=attempts.CustomerDetails(name=values["name"].strip() or None, email=values["email"].strip() or None),
        promotion_code=values["promotion_code"].strip() or None,
        client_ip=request.client.host if request.client else None,
    )
    try:
        attempt = await attempts.confirm(_gateway(request), token, confirmation)
    except InvalidFields as refused:
        return await _rerender(request, token, values, _field_errors(refused), 422)
    except RateLimited as limited:
        return await _rerender(request, token, values, {}, 429, alert=limited.detail)
    except Conflict:
        # Completed or expired meanwhile: the closed page says so; a payment still in flight is told as such.
        return await _rerender(
            request, token, values, {}, 409, alert="A payment for this checkout is already in progress."
        )
    return await _outcome(request, token, attempt, values)


async def _outcome(
    request: Request, token: str, attempt: CheckoutAttempt, values: dict[str, str] | None = None
) -> Response:
    """Where an attempt leaves the customer: the merchant's success URL, the challenge, or the page again."""
    async with _gateway(request).database.reading() as session:
        checkout = await attempts.find_by_token(session, token)
        if attempt.state == attempts.SUCCEEDED:
            target = checkout_service.success_redirect_url(checkout)
            return RedirectResponse(target, status_code=303, headers=_security_headers(target))
        if attempt.state == attempts.REQUIRES_ACTION and attempt.action_url is not None:
            return RedirectResponse(attempt.action_url, status_code=303, headers=_security_headers(attempt.action_url))
        if attempt.state == attempts.FAILED:
            alert = attempt.error_message_for_customer or "Your payment was not completed."
        else:
            alert = "Your payment is still being processed. Reload this page in a moment."
        return await _render(request, session, checkout, values=values, alert=alert)


async def _rerender(
    request: Request,
    token: str,
    values: dict[str, str],
    errors: dict[str, str],
    status_code: int,
    *,
    alert: str | None = None,
    notice: str | None = None,
) -> Response:
    async with _gateway(request).database.reading() as session:
        checkout = await attempts.find_by_token(session, token)
        return await _render(
            request,
            session,
            checkout,
            status_code=status_code,
            values=values,
            errors=errors,
            alert=alert,
            notice=notice,
        )


async def _render(
    request: Request,
    session: AsyncSession,
    checkout: CheckoutSession,
    *,
    status_code: int = 200,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    alert: str | None = None,
    notice: str | None = None,
) -> Response:
    account = await accounts.get_account(session, checkout.account_id)
    brand = account.brand_settings
    merchant = brand.get("name") or account.name
    logo = brand.get("logo") if isinstance(brand.get("logo"), str) and brand["logo"].startswith("https://") else None
    current = checkout_service.state(checkout)
    if current != OPEN:
        return _page(
            "checkout_closed.html",
            status_code=status_code,
            success_url=None,
            refused=False,
            merchant=merchant,
            logo=logo,
            completed=current == SUCCESS,
            return_url=checkout.return_url,
        )
    locale = _locale(request)

    def money(minor: int) -> str:
        return format_money(minor, checkout.currency, locale)

    items = [
        {
            "name": item.product_name,
            "detail": item.price_name or item.description,
            "quantity": item.quantity,
            "amount": money(item.amount_subtotal_atom),
        }
        for item in checkout_service.tier_items(checkout, PRIMARY_TIER)
    ]
    return _page(
        "checkout.html",
        status_code=status_code,
        success_url=checkout_service.success_redirect_url(checkout),
        html_lang=locale.split("_")[0],
        merchant=merchant,
        logo=logo,
        theme_url=f"{router.prefix}/{checkout.secure_token}/theme.css",
        items=items,
        subtotal=money(checkout.amount_subtotal_atom),
        discount=money(checkout.amount_discount_atom) if checkout.amount_discount_atom else None,
        total=money(checkout.amount_total_atom),
        promotion_code=checkout.promotion_code,
        needs_customer=checkout.customer_id is None,
        return_url=checkout.return_url,
        csrf_field=CSRF_FIELD,
        csrf_token=_csrf_token(request, checkout.secure_token),
        action_field=ACTION_FIELD,
        apply=APPLY,
        pay=PAY,
        values=values or {},
        errors=errors or {},
        alert=alert,
        notice=notice,
    )


def _local_errors(values: dict[str, str]) -> dict[str, str]:
    """What can be checked without the database; the service checks the rest (a missing name, say)."""
    errors: dict[str, str] = {}
    email = values["email"].strip()
    if email:
        try:
            validate_email(email, check_deliverability=False)
        except EmailNotValidError:
            errors["email"] = "Enter a valid email address."
    return errors


def _card(form: FormData, values: dict[str, str], errors: dict[str, str]) -> CardDetails | None:
    """The simulator's card from the form, or ``None`` with ``errors`` filled in."""
    number = _text(form, "card_number").replace(" ", "")
    if not number.isdigit() or not 12 <= len(number) <= 19:
        errors["card_number"] = "Enter the card number."
    month = values["exp_month"].strip()
    if not month.isdigit() or not 1 <= int(month) <= 12:
        errors["exp_month"] = "Enter the expiry month (1 to 12)."
    year = values["exp_year"].strip()
    if not year.isdigit() or len(year) not in (2, 4):
        errors["exp_year"] = "Enter the expiry year."
    cvc = _text(form, "cvc").strip()
    if not cvc.isdigit() or not 3 <= len(cvc) <= 4:
        errors["cvc"] = "Enter the 3 or 4 digit security code."
    if errors:
        return None
    full_year = int(year) + 2000 if len(year) == 2 else int(year)
    return CardDetails(number, int(month), full_year, cvc)


def _field_errors(refused: InvalidFields) -> dict[str, str]:
    """The service's problems, tied to the page's fields (its ``loc`` ends with the field's name)."""
    errors: dict[str, str] = {}
    for problem in refused.problems:
        field = str(problem.loc[-1]) if problem.loc else ""
        if field in _FIELDS:
            errors.setdefault(field, _sentence(problem.msg))
    return errors or {"promotion_code": "This request could not be completed."}


def _sentence(message: str) -> str:
    return message[:1].upper() + message[1:] + ("" if message.endswith(".") else ".")


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value[:500] if isinstance(value, str) else ""


def _locale(request: Request) -> str:
    """The first language the browser asks for that Babel knows; anything else reads as ``en_US``."""
    first = request.headers.get("accept-language", "").split(",")[0].split(";")[0].strip()
    if not first or first == "*":
        return DEFAULT_LOCALE
    try:
        return str(Locale.parse(first.replace("-", "_")))
    except (UnknownLocaleError, ValueError):
        return DEFAULT_LOCALE


async def _find(session: AsyncSession, token: str) -> CheckoutSession | None:
    if len(token) > MAX_TOKEN_LENGTH:
        return None
    return await checkout_service.find_by_token(session, token)


def _gateway(request: Request) -> attempts.Gateway:
    return attempts.Gateway(
        database=request.app.state.database,
        public_url=request.app.state.settings.resolved_public_url,
        box=request.app.state.secret_box,
    )


def _csrf_token(request: Request, secure_token: str) -> str:
    key = request.app.state.settings.resolved_secret_key.encode()
    return hmac.new(key, _CSRF_CONTEXT + secure_token.encode(), hashlib.sha256).hexdigest()


def _not_found() -> Response:
    """The same page for every unknown token: whether a token ever existed is not told."""
    return _page("not_found.html", status_code=404, success_url=None)


def _page(template: str, *, status_code: int, success_url: str | None, **context: object) -> HTMLResponse:
    html = _templates.get_template(template).render(static=STATIC_PATH, **context)
    return HTMLResponse(html, status_code=status_code, headers=_security_headers(success_url))


def _security_headers(redirect_to: str | None) -> dict[str, str]:
    # form-action also governs where a form's redirect may lead: paying ends on the merchant's success URL.
    form_action = "'self'"
    if redirect_to is not None:
        parts = urlsplit(redirect_to)
        form_action += f" {parts.scheme}://{parts.netloc}"
    return {
        "Content-Security-Policy": (
            f"default-src 'none'; style-src 'self'; img-src 'self' https:; form-action {form_action}; "
            "frame-ancestors 'none'; base-uri 'none'"
        ),
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Cache-Control": "no-store",
    }
