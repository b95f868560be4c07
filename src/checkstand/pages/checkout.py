"""The hosted checkout page: what a customer opens from a session's ``url``, keyed by its ``secure_token`` only.

Server-rendered and complete without JavaScript: one plain form that either applies a promotion code or pays. It
goes through the same service calls as the public checkout API (:mod:`checkstand.api.public_checkout`), so every
business rule (amounts, rate limits, one charge per session) lives in the services (:mod:`checkstand.checkout.service`,
:mod:`checkstand.payments.flow`), and no
amount is ever read from the form. The page shows only what a customer may see: no metadata, no internal ids.

Posts carry a CSRF token that is an HMAC of the secure token under the server's secret key (as the simulator's
3-D Secure page does): unpredictable without the key, different per session, nothing to store. Every response
forbids scripts, other hosts' assets but https images (the merchant's logo), framing, referrers (the URL holds the
token) and caching.

The card form is that of the processor the session's primary tier charges first
(:func:`checkstand.payments.hosted_pages.page_processor`): the simulator's own fields, or Stripe's Payment Element.
Stripe's needs JavaScript (Stripe.js turns the card into a ``pm_...`` id in the browser, and a card number is
refused here), so a Stripe page alone allows scripts: ours from ``'self'`` and Stripe.js from the origin of
``CHECKSTAND_STRIPE_JS_URL``, with the frames and API origin Stripe documents, and still nothing inline. A Stripe
connection without a publishable key can't show that form, so the page offers the next processor of the route
whose form it can show; when there is none it says so and shows no form. Stripe's 3-D Secure challenge runs in
Stripe.js on the authenticate page, the one page that holds a PaymentIntent's client secret.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlencode

from babel.dates import format_date
from babel.numbers import format_percent
from email_validator import EmailNotValidError, validate_email
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData

from checkstand.accounts import branding
from checkstand.accounts import service as accounts
from checkstand.api.http.client_address import client_ip
from checkstand.api.http.gateway import payment_gateway
from checkstand.api.http.head import is_head, is_speculative
from checkstand.api.http.unit_of_work import Session
from checkstand.catalog import service as catalog
from checkstand.checkout import metered, offer_choices, trials
from checkstand.checkout import plans as checkout_plans
from checkstand.checkout import service as checkout_service
from checkstand.checkout.models import OPEN, PRIMARY_TIER, SUCCESS, CheckoutSession
from checkstand.checkout.offer_terms import cancel_link, is_offer
from checkstand.core import i18n
from checkstand.core.errors import Conflict, FieldProblem, InvalidFields, NotFound, RateLimited
from checkstand.core.i18n import N_, gettext, ngettext
from checkstand.core.money import format_money
from checkstand.core.urls import origin_of
from checkstand.pages import customer_words, form_fields, price_tiers
from checkstand.pages import i18n as page_i18n
from checkstand.pages import offer as offer_page
from checkstand.pages.confirmation import confirmation
from checkstand.pages.theme import accent_theme
from checkstand.payments import completion, flow, plan_change_sessions, three_d_secure
from checkstand.payments.hosted_pages import page_processor
from checkstand.payments.models import FAILED, REQUIRES_ACTION, SUCCEEDED, CheckoutAttempt
from checkstand.processors.base import CardDetails, PaymentMethod
from checkstand.processors.connections import STRIPE
from checkstand.processors.stripe import stripe_amount
from checkstand.subscriptions import service as subscriptions
from checkstand.subscriptions.proration import PlanLine

router = APIRouter(prefix="/c", tags=["hosted checkout"], include_in_schema=False)

# The page's stylesheet: the app mounts this at STATIC_PATH (``style-src 'self'`` allows nothing inline).
STATIC_PATH: Final = "/static"
STATIC: Final = StaticFiles(directory=Path(__file__).parent / "static")

CSRF_FIELD: Final = "csrf_token"
ACTION_FIELD: Final = "action"
APPLY: Final = "apply"
REMOVE_CODE: Final = "remove_code"
PAY: Final = "pay"
CHANGE_PLAN: Final = "plan"
# A plan option's value on the page: the line's position and the family tier's rank (ids stay off the page).
_PLAN_VALUE: Final = re.compile(r"^([0-9]{1,3}):(-?[0-9]{1,9})$")  # ASCII digits: \d takes any script's
ATTEMPT_PARAM: Final = "checkout_attempt_id"
PAYMENT_METHOD_FIELD: Final = "payment_method_id"
STRIPE_SCRIPT: Final = "checkout-stripe.js"
# The page's own script: card formatting, the summary folded on a phone. The page works without it.
PAGE_SCRIPT: Final = "checkout.js"
# Stripe.js's 3-D Secure frames and its API, as Stripe's documented Content-Security-Policy names them.
STRIPE_FRAME_ORIGIN: Final = "https://hooks.stripe.com"
STRIPE_API_ORIGIN: Final = "https://api.stripe.com"
NO_PROCESSOR: Final = N_("Card payments aren't available for this checkout right now. Please contact the merchant.")
IN_PROGRESS: Final = N_("A payment for this checkout is already in progress.")
TOO_MANY_TRIES: Final = N_("Too many failed payments. Please wait a few minutes and try again.")
# A plan change to the plan the customer already holds (``plan_change_sessions.price_session`` refuses it).
ALREADY_SUBSCRIBED: Final = "already_subscribed"
ON_THAT_PLAN: Final = N_("You already subscribe to this plan. Choose another one.")
UNAVAILABLE: Final = N_("This checkout can't be bought right now. Please contact the merchant.")
NUL_FORM: Final = N_("The form held a character that can't be sent (NUL). Check what you typed and try again.")
EXPIRY_ERROR: Final = N_("Enter the expiry date as MM / YY, as printed on your card.")
NUL_FIELD: Final = N_("Remove the invisible NUL character.")
# A Stripe payment method id as the public API takes it: at most 255 characters.
_STRIPE_METHOD: Final = re.compile(r"^pm_[0-9A-Za-z_]{1,252}$")
# The simulator's card fields: a Stripe page refuses a post carrying any of them.
_CARD_FIELDS: Final = ("card_number", "exp_month", "exp_year", "cvc")
# Longer than any token Checkstand issues: answered as unknown without a query.
MAX_TOKEN_LENGTH: Final = 100
_CSRF_CONTEXT: Final = b"checkstand hosted checkout csrf\x00"
_HEX_COLOR: Final = re.compile(r"^#[0-9a-fA-F]{6}$")
# An expiry as printed on a card, "MM / YY", with or without the spaces or slash, or with a four-digit year.
_EXPIRY: Final = re.compile(r"([0-9]{1,2}) ?/? ?([0-9]{2}|[0-9]{4})")
# The page's form fields, named as the public API names them in an error's ``loc``.
_FIELDS: Final = (
    "name",
    "email",
    "card_number",
    "exp_month",
    "exp_year",
    "exp",
    "cvc",
    "promotion_code",
    "plan",
    *offer_page.FIELDS,
)
# Card data is never written back into a page (not even after a decline): the customer types it again.
_SECRET_FIELDS: Final = ("card_number", "cvc")

_templates = page_i18n.environment()


@router.get("/{token}", response_class=HTMLResponse)
async def show_checkout(request: Request, token: str, session: Session) -> Response:
    """The page; back from a 3-D Secure challenge (``checkout_attempt_id``), the attempt is settled first."""
    checkout = await _find(session, token)
    if checkout is None:
        return _not_found(request)
    with page_i18n.speaking(page_i18n.locale_of(request, checkout.locale)):
        return await _show(request, session, token, checkout)


async def _show(request: Request, session: AsyncSession, token: str, checkout: CheckoutSession) -> Response:
    if not checkout.single_use and checkout_service.is_open(checkout):
        if is_head(request) or is_speculative(request):
            # A link checker or a browser's prefetch opens nothing: only a person's visit makes a session.
            return Response(status_code=200 if is_head(request) else 503, headers=_security_headers(None))
        # A visit holding this reading connection while it waits for a writing one would, in a burst, take every
        # connection of the pool and wait for itself.
        await session.close()
        return await _visit(request, checkout)
    attempt_id = request.query_params.get(ATTEMPT_PARAM)
    if attempt_id is None or len(attempt_id) > MAX_TOKEN_LENGTH:
        return await _render(request, session, checkout)
    try:
        attempt = await three_d_secure.resume(payment_gateway(request), token, attempt_id)
    except NotFound:
        return await _render(request, session, checkout)
    return await _outcome(request, token, attempt)


async def _visit(request: Request, link: CheckoutSession) -> Response:
    """A reusable link's visit: a session of its own, made now, and the customer sent to its page."""
    try:
        async with payment_gateway(request).database.writing() as writing:
            visit = await offer_choices.open_visit(
                writing,
                await checkout_service.get_session(writing, link.account_id, link.id),
                plan_change=plan_change_sessions.price_session,
                held_prices=subscriptions.held_price_ids,
            )
            await writing.commit()
    except Conflict:
        return _page("checkout_closed.html", status_code=409, success_url=None, unavailable=gettext(UNAVAILABLE))
    return RedirectResponse(f"{router.prefix}/{visit.secure_token}", status_code=303, headers=_security_headers(None))


@router.get("/{token}/theme.css")
async def theme(token: str, session: Session) -> Response:
    """The account's accent colour and the colours derived from it for AA contrast, as a stylesheet: the strict
    policy allows no inline style. Without an accent, checkout.css's defaults apply."""
    checkout = await _find(session, token)
    color = None
    if checkout is not None:
        account = await accounts.get_account(session, checkout.account_id)
        color = account.brand_settings.get("accent_color")
    css = accent_theme(color).css() if isinstance(color, str) and _HEX_COLOR.match(color) else ""
    return Response(css, media_type="text/css", headers=_security_headers(None))


@router.post("/{token}", response_class=HTMLResponse)
async def submit_checkout(request: Request, token: str) -> Response:
    """Apply a promotion code or pay, whichever button was pressed; only the server's amounts are ever charged."""
    async with payment_gateway(request).database.reading() as session:
        checkout = await _find(session, token)
    if checkout is None:
        return _not_found(request)
    with page_i18n.speaking(page_i18n.locale_of(request, checkout.locale)):
        return await _submit(request, token, checkout)


async def _submit(request: Request, token: str, checkout: CheckoutSession) -> Response:
    if not checkout.single_use:
        # A reusable link is never paid itself: its page opens the visit's own session.
        return RedirectResponse(f"{router.prefix}/{token}", status_code=303, headers=_security_headers(None))
    form = await request.form()
    sent = form.get(CSRF_FIELD)
    if not isinstance(sent, str) or not hmac.compare_digest(sent.encode(), _csrf_token(request, token).encode()):
        return _page("checkout_closed.html", status_code=403, success_url=None, refused=True, return_url=None)
    values = {name: _text(form, name) for name in _FIELDS if name not in _SECRET_FIELDS}
    if with_nul := form_fields.fields_with_nul(form):
        # Refused before anything is read further or stored; the page comes back without the character.
        shown = {name: form_fields.without_nul(value) for name, value in values.items()}
        errors = {name: gettext(NUL_FIELD) for name in with_nul if name in _FIELDS and name not in _SECRET_FIELDS}
        return await _rerender(request, token, shown, errors, 422, alert=gettext(NUL_FORM))
    action = _text(form, ACTION_FIELD)
    if action == APPLY:
        return await _apply_code(request, token, values)
    if action == REMOVE_CODE:
        return await _remove_code(request, token, values)
    if action == CHANGE_PLAN or values["plan"]:
        # Paying with another plan ticked than the one priced: the customer sees the new total before paying it.
        changed = await _change_plan(request, token, values, paying=action != CHANGE_PLAN)
        if changed is not None:
            return changed
    picks = offer_page.picks(form)
    if is_offer(checkout) and (action == offer_page.CHOOSE or picks or values[offer_page.CURRENCY_FIELD]):
        chosen = await _choose_offer(request, token, values, picks, paying=action != offer_page.CHOOSE)
        if chosen is not None:
            return chosen
    return await _pay(request, token, form, values)


async def _apply_code(request: Request, token: str, values: dict[str, str]) -> Response:
    code = values["promotion_code"].strip()
    if not code:
        return await _rerender(request, token, values, {"promotion_code": gettext("Enter a promotion code.")}, 422)
    try:
        async with payment_gateway(request).database.writing() as session:
            checkout = await checkout_service.lock_open_session(session, token)
            await checkout_service.apply_promotion_code(session, checkout, code)
            await session.commit()
    except InvalidFields as refused:
        return await _rerender(request, token, values, _field_errors(refused), 422)
    except Conflict:
        # Closed meanwhile (the closed page says so), or a payment in flight.
        return await _rerender(request, token, values, {}, 409, alert=gettext(IN_PROGRESS))
    return await _rerender(request, token, values, {}, 200, notice=gettext("Promotion code applied."))


async def _remove_code(request: Request, token: str, values: dict[str, str]) -> Response:
    try:
        async with payment_gateway(request).database.writing() as session:
            checkout = await checkout_service.lock_open_session(session, token)
            await checkout_service.remove_promotion_code(session, checkout)
            await session.commit()
    except Conflict:
        return await _rerender(request, token, values, {}, 409, alert=gettext(IN_PROGRESS))
    values = {**values, "promotion_code": ""}
    return await _rerender(request, token, values, {}, 200, notice=gettext("Promotion code removed."))


async def _change_plan(request: Request, token: str, values: dict[str, str], *, paying: bool) -> Response | None:
    """Switch to the plan ticked; ``None`` when paying and it is already the plan priced (the payment goes on)."""
    chosen = _PLAN_VALUE.match(values["plan"])
    if chosen is None:
        return await _rerender(request, token, values, {"plan": gettext("Choose one of the plans offered.")}, 422)
    try:
        async with payment_gateway(request).database.writing() as session:
            checkout = await checkout_service.lock_open_session(session, token)
            code = checkout.promotion_code
            changed = await checkout_plans.change_plan(
                session, checkout, int(chosen[1]), int(chosen[2]), plan_change=plan_change_sessions.price_session
            )
            dropped = code if code is not None and checkout.promotion_code is None else None
            await session.commit()
    except InvalidFields as refused:
        return await _rerender(request, token, values, _field_errors(refused), 422)
    except Conflict as refused:
        if refused.code == ALREADY_SUBSCRIBED:
            return await _rerender(request, token, values, {"plan": gettext(ON_THAT_PLAN)}, 409)
        return await _rerender(request, token, values, {}, 409, alert=gettext(IN_PROGRESS))
    if paying and not changed:
        return None
    notice = gettext("Plan changed. Check the new total, then pay.") if paying else gettext("Plan changed.")
    if dropped is not None:
        notice += " " + gettext("The code %(code)s does not apply to this plan and was removed.", code=dropped)
        values = {**values, "promotion_code": ""}
    return await _rerender(request, token, values, {}, 200, notice=notice)


async def _choose_offer(
    request: Request, token: str, values: dict[str, str], picks: dict[int, int] | None, *, paying: bool
) -> Response | None:
    """Sell a Paid checkout's plans and currency as picked; ``None`` when paying and they are those priced."""
    if picks is None:
        return await _rerender(request, token, values, {"plans": gettext("Choose one of the plans offered.")}, 422)
    currency = values[offer_page.CURRENCY_FIELD].strip() or None
    try:
        async with payment_gateway(request).database.writing() as session:
            checkout = await checkout_service.lock_open_session(session, token)
            changed = await offer_choices.choose(
                session, checkout, picks, currency, plan_change=plan_change_sessions.price_session
            )
            await session.commit()
    except InvalidFields as refused:
        return await _rerender(request, token, values, _field_errors(refused), 422)
    except Conflict as refused:
        if refused.code == ALREADY_SUBSCRIBED:
            return await _rerender(request, token, values, {"plans": gettext(ON_THAT_PLAN)}, 409)
        return await _rerender(request, token, values, {}, 409, alert=gettext(IN_PROGRESS))
    if paying and not changed:
        return None
    notice = gettext("Plan changed. Check the new total, then pay.") if paying else gettext("Plan changed.")
    return await _rerender(request, token, values, {}, 200, notice=notice)


async def _pay(request: Request, token: str, form: FormData, values: dict[str, str]) -> Response:
    async with payment_gateway(request).database.reading() as session:
        checkout = await checkout_service.get_by_token(session, token)
        processor = await page_processor(session, checkout)
    # Every field's error at once: the details are checked here too, not only after the card passed.
    errors = _local_errors(values, needs_customer=checkout.customer_id is None)
    if processor is None:
        return await _rerender(request, token, values, {}, 409, alert=gettext(NO_PROCESSOR))
    if processor.type == STRIPE:
        method = _stripe_method(form, errors)
    else:
        card = _card(form, values, errors)
        method = None if card is None else PaymentMethod(card=card)
    if method is None:
        return await _rerender(request, token, values, errors, 422)
    confirmation = flow.Confirmation(
        payment_method=method,
        customer=flow.CustomerDetails(
            name=values["name"].strip() or None,
            email=values["email"].strip() or None,
            phone=values[offer_page.PHONE_FIELD].strip() or None,
            address=offer_page.address(values),
        ),
        promotion_code=values["promotion_code"].strip() or None,
        client_ip=client_ip(request),
    )
    try:
        if checkout.locale == i18n.AUTO:
            await _remember_locale(request, token, page_i18n.locale_of(request).formatting)
        attempt = await flow.confirm(payment_gateway(request), token, confirmation)
    except InvalidFields as refused:
        return await _rerender(request, token, values, _field_errors(refused), 422)
    except RateLimited:
        return await _rerender(request, token, values, {}, 429, alert=gettext(TOO_MANY_TRIES))
    except Conflict:
        # Completed or expired meanwhile: the closed page says so; a payment still in flight is told as such.
        return await _rerender(request, token, values, {}, 409, alert=gettext(IN_PROGRESS))
    return await _outcome(request, token, attempt, values)


@router.get("/{token}/authenticate", response_class=HTMLResponse)
async def authenticate(request: Request, token: str, session: Session) -> Response:
    """Stripe's 3-D Secure challenge, run by Stripe.js (``handleNextAction``) where Stripe gives no page to send the
    customer to; then back to the page, which resumes the attempt. The client secret is read from Stripe now."""
    checkout = await _find(session, token)
    if checkout is None:
        return _not_found(request)
    with page_i18n.speaking(page_i18n.locale_of(request, checkout.locale)):
        return await _authenticate(request, session, token, checkout)


async def _authenticate(request: Request, session: AsyncSession, token: str, checkout: CheckoutSession) -> Response:
    page_url = f"{router.prefix}/{token}"
    attempt_id = request.query_params.get(ATTEMPT_PARAM)
    if attempt_id is None or len(attempt_id) > MAX_TOKEN_LENGTH:
        return RedirectResponse(page_url, status_code=303, headers=_security_headers(None))
    resume_url = f"{page_url}?{urlencode({ATTEMPT_PARAM: attempt_id})}"
    gateway = payment_gateway(request)
    try:
        challenge = await three_d_secure.stripe_challenge(gateway, token, attempt_id)
        if challenge is None and (await three_d_secure.resume(gateway, token, attempt_id)).state != REQUIRES_ACTION:
            # Settled already (a reload, say): the page answers with the outcome.
            return RedirectResponse(resume_url, status_code=303, headers=_security_headers(None))
    except NotFound:
        return RedirectResponse(page_url, status_code=303, headers=_security_headers(None))
    account = await accounts.get_account(session, checkout.account_id)
    # Without a challenge to run (Stripe still processing, or unreachable) the page says so and loads no script.
    return _page(
        "checkout_authenticate.html",
        status_code=200,
        success_url=None,
        stripe_js=None if challenge is None else request.app.state.settings.stripe_js_url,
        merchant=account.brand_settings.get("name") or account.name,
        challenge=challenge,
        resume_url=resume_url,
        script=STRIPE_SCRIPT,
        script_messages=_script_messages(),
    )


async def _outcome(
    request: Request, token: str, attempt: CheckoutAttempt, values: dict[str, str] | None = None
) -> Response:
    """Where an attempt leaves the customer: the merchant's success URL, the challenge, or the page again."""
    async with payment_gateway(request).database.reading() as session:
        checkout = await checkout_service.get_by_token(session, token)
        if attempt.state == SUCCEEDED:
            target = checkout_service.success_redirect_url(checkout)
            return RedirectResponse(target, status_code=303, headers=_security_headers(target))
        if attempt.state == REQUIRES_ACTION and attempt.action_url is not None:
            return RedirectResponse(attempt.action_url, status_code=303, headers=_security_headers(attempt.action_url))
        if attempt.state == FAILED:
            # Told beside the card, with what to do next.
            reason = customer_words.decline(attempt.decline_code)
            return await _render(request, session, checkout, values=values, decline=reason)
        alert = gettext("Your payment is still being processed. Reload this page in a moment.")
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
    async with payment_gateway(request).database.reading() as session:
        checkout = await checkout_service.get_by_token(session, token)
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


@dataclass(frozen=True)
class BrandPreview:
    """Brand settings not saved yet, and the stylesheet of their accent colour: what the dashboard previews."""

    brand: dict[str, Any]
    theme_url: str


async def render_preview(
    request: Request, session: AsyncSession, sample: CheckoutSession, preview: BrandPreview
) -> Response:
    """The page of ``sample`` (an open session) as ``preview``'s brand settings would show it: rendered by the
    page's own code, so the dashboard's preview is the page."""
    return await _render(request, session, sample, preview=preview)


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
    decline: str | None = None,
    preview: BrandPreview | None = None,
) -> Response:
    account = await accounts.get_account(session, checkout.account_id)
    brand = account.brand_settings if preview is None else preview.brand
    merchant = brand.get("name") or account.name
    logo = branding.page_logo(brand)
    current = checkout_service.state(checkout)
    locale = page_i18n.locale_of(request, checkout.locale).formatting

    def money(minor: int) -> str:
        return format_money(minor, checkout.currency, locale)

    if current == SUCCESS:
        sends_receipts = request.app.state.settings.smtp_url is not None
        return _page(
            "checkout_paid.html",
            status_code=status_code,
            success_url=None,
            merchant=merchant,
            logo=logo,
            paid=await confirmation(session, checkout, money, quantity_and_name, locale, sends_receipts=sends_receipts),
            return_url=cancel_link(checkout),
        )
    if current != OPEN:
        return _page(
            "checkout_closed.html",
            status_code=status_code,
            success_url=None,
            refused=False,
            merchant=merchant,
            logo=logo,
            return_url=cancel_link(checkout),
        )
    metered_prices = await metered.metered_prices(session, checkout)
    lines = checkout_service.tier_items(checkout, PRIMARY_TIER)
    terms = await price_tiers.terms_by_price(session, checkout.account_id, lines, money, locale)
    items = [
        {
            "name": item.product_name,
            "detail": item.price_name or item.description,
            "quantity": item.quantity,
            # A tiered or package price tells its own terms: its unit amount is no price per unit.
            "unit_price": money(item.unit_amount_atom) if item.quantity > 1 and item.price_id not in terms else None,
            "amount": money(item.amount_subtotal_atom),
            "billing": billing_terms(item.recurring_interval, item.recurring_interval_count),
            "trial": trial_offer(item.trial_days),
            "price_terms": terms.get(item.price_id),
            "usage": price_tiers.usage_rates(metered_prices[item.price_id], money, locale)
            if item.price_id in metered_prices
            else None,
        }
        for item in lines
    ]
    # One family's choice per page: a second radio group named "plan" would untick the first.
    choices = await checkout_plans.plan_choices(session, checkout)
    due = trials.tier_due(checkout, PRIMARY_TIER)
    change = plan_change_sessions.plan_change_of(checkout)
    # What paying charges now: a plan change's net (a trial's terms are not a plan change's: the subscription has
    # its own period), else the tier's amount due today.
    today_atom = trials.amount_due_today(checkout, PRIMARY_TIER)
    if change is not None:
        pay_label = gettext("Pay %(amount)s", amount=money(today_atom)) if today_atom > 0 else gettext("Change plan")
    elif due.today_atom or not due.is_trial:
        pay_label = gettext("Pay %(amount)s", amount=money(due.today_atom))
        if not due.today_atom and metered_prices:
            pay_label = gettext("Subscribe")  # billed by usage only: the card is saved, nothing is charged today
    else:
        pay_label = gettext("Start trial")
    plans = [
        {
            "value": f"{choice.line.position}:{option.rank}",
            "name": option.price.product.name,
            "detail": option.price.name,
            "amount": money(option.price.unit_amount_atom),
            "billing": billing_terms(option.price.recurring_interval, option.price.recurring_interval_count),
            "trial": None if change is not None else trial_offer(option.price.trial_days),
            "selected": option.selected,
        }
        for choice in choices[:1]
        for option in choice.options
    ]
    offer = (
        await offer_page.context(session, checkout, money, billing_terms, trial_offer, locale)
        if is_offer(checkout)
        else None
    )
    processor = await page_processor(session, checkout)
    stripe_form = None
    if processor is not None and processor.type == STRIPE:
        # What Stripe's Payment Element shows and checks (deferred intent): the first charge's amount, in Stripe's
        # units. The server charges its own amount whatever the browser holds.
        # A trial with nothing due today saves the card only (a SetupIntent): the Element's setup mode, which
        # takes no amount and is for future use by its nature.
        sets_up = trials.sets_up(checkout, PRIMARY_TIER)
        stripe_form = {
            "publishable_key": processor.publishable_key,
            "mode": "setup" if sets_up else "payment",
            "amount": stripe_amount(today_atom, checkout.currency),
            "currency": checkout.currency.lower(),
            "setup_future_usage": "off_session" if completion.recurs(checkout, PRIMARY_TIER) and not sets_up else None,
        }
    return _page(
        "checkout.html",
        status_code=status_code,
        success_url=checkout_service.success_redirect_url(checkout),
        merchant=merchant,
        logo=logo,
        theme_url=f"{router.prefix}/{checkout.secure_token}/theme.css" if preview is None else preview.theme_url,
        items=items,
        billed_by_usage=gettext("Billed by usage"),
        plans=plans,
        offer=offer,
        change_plan=CHANGE_PLAN,
        plan_change=None if change is None else await _plan_change(session, checkout, change, money, locale),
        subtotal=money(checkout.amount_subtotal_atom),
        discount=money(checkout.amount_discount_atom) if checkout.amount_discount_atom else None,
        discount_terms=_discount_terms(checkout, money, locale),
        recurrence=None if change is not None else _recurrence(checkout, due, money),
        summary_amount=money(today_atom),
        total=money(checkout.amount_total_atom),
        due_today=money(due.today_atom) if due.is_trial and change is None else None,
        trial_terms=None if change is not None else _trial_terms(checkout, due, money, locale),
        pay_label=pay_label,
        promotion_code=checkout.promotion_code,
        needs_customer=checkout.customer_id is None,
        return_url=cancel_link(checkout),
        csrf_field=CSRF_FIELD,
        csrf_token=_csrf_token(request, checkout.secure_token),
        action_field=ACTION_FIELD,
        apply=APPLY,
        remove_code=REMOVE_CODE,
        pay=PAY,
        values=values or {},
        errors=errors or {},
        alert=alert,
        notice=notice,
        decline=decline,
        payment_form=None if processor is None else processor.type,
        test_mode=processor is not None and _test_mode(processor.type, processor.publishable_key),
        legal=_legal(brand),
        no_processor=gettext(NO_PROCESSOR),
        stripe_form=stripe_form,
        stripe_js=None if stripe_form is None else request.app.state.settings.stripe_js_url,
        script=STRIPE_SCRIPT,
        page_script=PAGE_SCRIPT if stripe_form is None and processor is not None else None,
        own_script=stripe_form is None and processor is not None,
        payment_method_field=PAYMENT_METHOD_FIELD,
        script_messages=_script_messages() if stripe_form is not None else None,
    )


async def _plan_change(
    session: AsyncSession,
    checkout: CheckoutSession,
    change: plan_change_sessions.PlanChange,
    money: Callable[[int], str],
    locale: str,
) -> dict[str, str | None]:
    """A plan change's breakdown as the customer reads it, from the amounts the session was priced with (what
    paying charges): each plan with its price and terms, the credit for the old plan's unused time, the charge for
    the new plan's rest of the period, what is due today, what a change worth less leaves on the balance, and the
    next renewal."""
    proration = change.proration

    async def plan(lines: list[PlanLine]) -> str:
        described = []
        for line in lines:
            price = await catalog.get_price(session, checkout.account_id, line.price_id)
            name = quantity_and_name(line.quantity, line.product_name)
            terms = billing_terms(price.recurring_interval, price.recurring_interval_count)
            described.append(
                gettext("%(name)s, %(amount)s %(terms)s", name=name, amount=money(line.amount_atom), terms=terms)
            )
        return "; ".join(described)

    return {
        "current": await plan(change.current_plan),
        "new": await plan(change.new_plan),
        "credit": money(proration.credit_atom),
        "charge": money(proration.charge_atom),
        "until": format_date(proration.next_renewal_at, format="long", locale=locale),
        "due_today": money(change.amount_due_today_atom),
        "to_balance": money(-proration.net_atom) if proration.net_atom < 0 else None,
        "next_renewal": money(proration.next_renewal_atom),
        "next_renewal_on": format_date(proration.next_renewal_at, format="long", locale=locale),
    }


def _test_mode(processor_type: str, publishable_key: str | None) -> bool:
    """Whether no real card is charged: the simulator always, Stripe with a test key."""
    return processor_type != STRIPE or (publishable_key or "").startswith("pk_test_")


def _legal(brand: dict[str, Any]) -> dict[str, str | None]:
    """The merchant's legal name and its terms and privacy links from the brand settings; a link only when it is
    a web address (the API takes nothing else, this keeps an older stored value from becoming one)."""

    def link(key: str) -> str | None:
        value = brand.get(key)
        return value if isinstance(value, str) and value.startswith(("https://", "http://")) else None

    legal_name = brand.get("legal_name")
    return {
        "name": legal_name if isinstance(legal_name, str) and legal_name else None,
        "terms": link("terms_of_service_url"),
        "privacy": link("privacy_policy_url"),
    }


_PER: Final = {"day": N_("per day"), "week": N_("per week"), "month": N_("per month"), "year": N_("per year")}
_EVERY: Final = {
    "day": N_("every %(num)s days"),
    "week": N_("every %(num)s weeks"),
    "month": N_("every %(num)s months"),
    "year": N_("every %(num)s years"),
}


def billing_terms(interval: str | None, count: int | None) -> str | None:
    """``per month``, ``every 3 months``; ``None`` for a one-time price. Two or more is always a plural in the five
    languages, so no ``ngettext``: "per month" is its own phrase ("monatlich", "月額"), not a count of one."""
    if interval is None:
        return None
    if count in (None, 1):
        return gettext(_PER.get(interval, _PER["month"]))
    return gettext(_EVERY.get(interval, _EVERY["month"]), num=count)


def quantity_and_name(quantity: int, name: str) -> str:
    """``3 x T-shirt``, or the name alone for one."""
    return name if quantity == 1 else gettext("%(quantity)s x %(name)s", quantity=quantity, name=name)


def trial_offer(days: int) -> str | None:
    """``14-day free trial``; ``None`` without a trial."""
    return ngettext("%(num)s-day free trial", "%(num)s-day free trial", days) if days else None


def _trial_terms(
    checkout: CheckoutSession, due: trials.TierDue, money: Callable[[int], str], locale: str
) -> str | None:
    """ "14-day free trial, then $49.00 per month starting May 15, 2025": when the trial ends and what it charges
    then, the end in the customer's locale, from now as the subscription will count it (on a test clock, the
    clock's now). What is due today is told beside it (``_recurrence``)."""
    if not due.is_trial:
        return None
    recurring = next(item for item in checkout_service.tier_items(checkout, PRIMARY_TIER) if item.recurring_interval)
    terms = billing_terms(recurring.recurring_interval, recurring.recurring_interval_count)
    starts = format_date(checkout.current_time() + timedelta(days=due.trial_days), format="long", locale=locale)
    return ngettext(
        "%(num)s-day free trial, then %(amount)s %(terms)s starting %(date)s",
        "%(num)s-day free trial, then %(amount)s %(terms)s starting %(date)s",
        due.trial_days,
        amount=money(due.recurring_atom),
        terms=terms,
        date=starts,
    )


def _recurrence(checkout: CheckoutSession, due: trials.TierDue, money: Callable[[int], str]) -> str | None:
    """ "$24.00 today, then $24.00 per month": what the customer agrees to pay now and at each renewal; ``None``
    for a one-time purchase. A discount used once leaves the renewals at the full price. A trial's renewals are told
    by its own terms (``_trial_terms``): here only what is due today."""
    items = checkout_service.tier_items(checkout, PRIMARY_TIER)
    recurring = [item for item in items if item.recurring_interval]
    if not recurring:
        return None
    if due.is_trial:
        return gettext("%(amount)s today", amount=money(due.today_atom))
    first = recurring[0]
    terms = billing_terms(first.recurring_interval, first.recurring_interval_count)
    coupon = checkout_service.discount_terms(checkout)
    renewal = due.recurring_atom
    if coupon is not None and coupon.duration == "once":
        renewal = sum(item.amount_subtotal_atom for item in recurring)
    return gettext(
        "%(today)s today, then %(renewal)s %(terms)s", today=money(due.today_atom), renewal=money(renewal), terms=terms
    )


def _discount_terms(checkout: CheckoutSession, money: Callable[[int], str], locale: str) -> str | None:
    """ "20% off for 3 months", "$5.00 off once": how much the discount takes and for how long."""
    coupon = checkout_service.discount_terms(checkout)
    if coupon is None or coupon.trial_days_off:
        return None
    if coupon.percent_off_bp is not None:
        off = format_percent(Decimal(coupon.percent_off_bp) / 10000, locale=locale, decimal_quantization=False)
    elif coupon.amount_atom_off is not None:
        off = money(coupon.amount_atom_off)
    else:
        return None
    if coupon.duration == "repeating" and coupon.duration_in_months:
        return ngettext(
            "%(off)s off for %(num)s month", "%(off)s off for %(num)s months", coupon.duration_in_months, off=off
        )
    if coupon.duration == "forever":
        return gettext("%(off)s off forever", off=off)
    return gettext("%(off)s off once", off=off)


def _script_messages() -> dict[str, str]:
    """What the page's scripts may say, in the page's language (read from a JSON block: the policy runs no inline
    script)."""
    return {
        "card_not_checked": gettext("Your card could not be checked. Please try again."),
        "form_not_loaded": gettext("The card form could not be loaded. Check your connection and reload this page."),
    }


def _stripe_method(form: FormData, errors: dict[str, str]) -> PaymentMethod | None:
    """The payment method id Stripe.js created, or ``None`` with ``errors`` filled in. Card details are refused
    outright: on a Stripe page they can only come from a forged post, and they never reach Stripe through us."""
    if any(_text(form, name).strip() for name in _CARD_FIELDS):
        errors[PAYMENT_METHOD_FIELD] = gettext(
            "Enter your card in the card form; card details can't be sent to this page."
        )
        return None
    method_id = _text(form, PAYMENT_METHOD_FIELD).strip()
    if not _STRIPE_METHOD.match(method_id):
        errors[PAYMENT_METHOD_FIELD] = gettext("Enter your card details in the card form.")
        return None
    return PaymentMethod(processor_reference=method_id)


def _local_errors(values: dict[str, str], *, needs_customer: bool) -> dict[str, str]:
    """What can be checked without the database, as the service checks it (a session without a customer needs a
    name and an email), so that one post shows every field's error."""
    errors: dict[str, str] = {}
    email = values["email"].strip()
    if needs_customer and not values["name"].strip():
        errors["name"] = gettext("Enter your full name.")
    if needs_customer and not email:
        errors["email"] = gettext("Enter your email address.")
    if email:
        try:
            validate_email(email, check_deliverability=False)
        except EmailNotValidError:
            errors["email"] = gettext("Enter a valid email address.")
    return errors


def _card(form: FormData, values: dict[str, str], errors: dict[str, str]) -> CardDetails | None:
    """The simulator's card from the form, or ``None`` with ``errors`` filled in."""
    number = form_fields.ascii_digits(_text(form, "card_number").replace(" ", ""))
    if number is None or not 12 <= len(number) <= 19:
        errors["card_number"] = gettext("Enter the card number.")
    if values["exp_month"] or values["exp_year"]:
        # Separate month and year fields, as a post made for the first version of this page sends them; their
        # errors are told at the page's one expiry field.
        month = form_fields.ascii_number(values["exp_month"].strip(), 1, 12)
        year = form_fields.ascii_digits(values["exp_year"].strip())
        if year is not None and len(year) not in (2, 4):
            year = None
    else:
        month, year = _expiry(values["exp"])
    if month is None or year is None:
        errors["exp"] = gettext(EXPIRY_ERROR)
    cvc = form_fields.ascii_digits(_text(form, "cvc").strip())
    if cvc is None or not 3 <= len(cvc) <= 4:
        errors["cvc"] = gettext("Enter the 3 or 4 digit security code.")
    if errors or number is None or month is None or year is None or cvc is None:
        return None
    full_year = int(year) + 2000 if len(year) == 2 else int(year)
    return CardDetails(number, month, full_year, cvc)


def _expiry(text: str) -> tuple[int | None, str | None]:
    """The month and the year's digits of an "MM / YY" (or "MM/YYYY", "MMYY") expiry, each ``None`` if unreadable."""
    found = _EXPIRY.fullmatch(text.strip())
    if found is None:
        return None, None
    return form_fields.ascii_number(found[1], 1, 12), found[2]


def _field_errors(refused: InvalidFields) -> dict[str, str]:
    """The service's problems, tied to the page's fields (a problem's path ends with the field's name), each in
    the customer's words (:mod:`checkstand.pages.customer_words`), never the API's."""
    errors: dict[str, str] = {}
    for problem in refused.problems:
        field = _page_field(problem)
        if field in _FIELDS or field.startswith(offer_page.PLAN_PREFIX) or field == "plans":
            errors.setdefault(field, customer_words.problem(field, problem.type))
    return errors or {"promotion_code": gettext("This request could not be completed.")}


def _page_field(problem: FieldProblem) -> str:
    return offer_page.error_field(problem.path) or (str(problem.path[-1]) if problem.path else "")


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value[:500] if isinstance(value, str) else ""


async def _remember_locale(request: Request, token: str, locale: str) -> None:
    """The browser's locale, for the receipts of an ``auto`` session (sent later, with no browser to ask)."""
    async with payment_gateway(request).database.writing() as session:
        checkout = await checkout_service.get_by_token(session, token)
        await checkout_service.remember_customer_locale(session, checkout, locale)
        await session.commit()


async def _find(session: AsyncSession, token: str) -> CheckoutSession | None:
    if len(token) > MAX_TOKEN_LENGTH:
        return None
    return await checkout_service.find_by_token(session, token)


def _csrf_token(request: Request, secure_token: str) -> str:
    key = request.app.state.settings.resolved_secret_key.encode()
    return hmac.new(key, _CSRF_CONTEXT + secure_token.encode(), hashlib.sha256).hexdigest()


def _not_found(request: Request) -> Response:
    """The same page for every unknown token: whether a token ever existed is not told."""
    with page_i18n.speaking(page_i18n.locale_of(request)):
        return _page("not_found.html", status_code=404, success_url=None)


def _page(
    template: str,
    *,
    status_code: int,
    success_url: str | None,
    stripe_js: str | None = None,
    own_script: bool = False,
    **context: object,
) -> HTMLResponse:
    context.setdefault("html_lang", i18n.current_language())
    html = _templates.get_template(template).render(static=STATIC_PATH, stripe_js=stripe_js, **context)
    headers = _security_headers(success_url, stripe_js, own_script=own_script)
    return HTMLResponse(html, status_code=status_code, headers=headers)


def _security_headers(
    redirect_to: str | None, stripe_js: str | None = None, *, own_script: bool = False
) -> dict[str, str]:
    # form-action also governs where a form's redirect may lead: paying ends on the merchant's success URL. Only
    # parsed origins ever enter the policy (a stored URL that doesn't parse adds none), never a URL's own text.
    redirect_origin = None if redirect_to is None else origin_of(redirect_to)
    form_action = "'self'" if redirect_origin is None else f"'self' {redirect_origin}"
    # The page's own script, from this server only, where the page loads it.
    scripts = "script-src 'self'; " if own_script else ""
    origin = None if stripe_js is None else origin_of(stripe_js)
    if origin is not None:
        # Stripe's documented policy for Stripe.js, with its origin taken from the URL it is loaded from.
        scripts = (
            f"script-src 'self' {origin}; frame-src {origin} {STRIPE_FRAME_ORIGIN}; connect-src {STRIPE_API_ORIGIN}; "
        )
    return {
        "Content-Security-Policy": (
            f"default-src 'none'; {scripts}style-src 'self'; img-src 'self' https:; form-action {form_action}; "
            "frame-ancestors 'none'; base-uri 'none'"
        ),
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Cache-Control": "no-store",
    }
