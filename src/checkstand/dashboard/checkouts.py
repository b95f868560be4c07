"""Checkout sessions in the dashboard: create and share one, list them, and read one's whole story.

The create form goes through the very service call the API's ``POST checkout-sessions/`` makes (same checks, same
messages, shown next to the field each names); the form only turns its text into the service's input. A created
session's page shares the hosted page's link: selectable text, a copy button (with JavaScript), a QR code (inline
SVG from segno) and a link to open it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import segno
from fastapi import APIRouter, Request
from fastapi.responses import Response
from markupsafe import Markup
from starlette.datastructures import FormData

from checkstand.api.http.unit_of_work import Session
from checkstand.checkout import service as checkout_service
from checkstand.core.errors import FieldProblem, InvalidFields, NotFound
from checkstand.core.metadata import MAX_KEY_LENGTH, MAX_KEYS, MAX_VALUE_LENGTH
from checkstand.dashboard import service
from checkstand.dashboard.paging import last_page, page_number, page_params
from checkstand.dashboard.web import PREFIX, CheckedForm, SignedInUser, not_found, redirect, render
from checkstand.pages import checkout as hosted_page
from checkstand.payments import plan_change_sessions
from checkstand.subscriptions import service as subscriptions

router = APIRouter(prefix=f"{PREFIX}/checkout-sessions", include_in_schema=False)

LINE_ROWS: Final = 5
METADATA_ROWS: Final = 5
MAX_FIELD_LENGTH: Final = 2048
NOT_A_NUMBER: Final = "Input should be a valid integer"
QUANTITY_WITHOUT_PRICE: Final = "Choose a price for this quantity"


@dataclass
class CreateForm:
    """The form as typed (shown again after a refusal) and the problems found, keyed by dotted field path."""

    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    # Problems with no field on the form: shown at its top.
    alerts: list[str] = field(default_factory=list)

    def value(self, name: str, default: str = "") -> str:
        return self.values.get(name, default)


def hosted_url(request: Request, checkout_token: str) -> str:
    return f"{request.app.state.settings.resolved_public_url}{hosted_page.router.prefix}/{checkout_token}"


@router.get("/new")
async def new_session_form(request: Request, user: SignedInUser, session: Session) -> Response:
    form = CreateForm(values={"expires_in_hours": str(checkout_service.DEFAULT_EXPIRY_HOURS), "quantity.0": "1"})
    return await _form_page(request, user, session, form, status_code=200)


@router.post("/new")
async def create_session(request: Request, user: SignedInUser, form: CheckedForm, session: Session) -> Response:
    typed = CreateForm(values={name: _text(form.get(name)) for name in _field_names()})
    spec, line_rows = _spec(typed, form)
    if typed.errors:
        return await _form_page(request, user, session, typed, status_code=422)
    try:
        checkout = await checkout_service.create_session(
            session,
            user.account_id,
            spec,
            plan_change=plan_change_sessions.pricer(None),
            held_prices=subscriptions.held_price_ids,
        )
    except InvalidFields as refused:
        for problem in refused.problems:
            _place(typed, problem, line_rows)
        return await _form_page(request, user, session, typed, status_code=422)
    return redirect(f"{router.prefix}/{checkout.id}?created=1")


@router.get("")
async def list_sessions(request: Request, user: SignedInUser, session: Session) -> Response:
    state = request.query_params.get("state") or None
    search = request.query_params.get("q") or None
    number = page_number(request.query_params.get("page"))
    page = await service.list_checkout_sessions(
        session,
        user.account_id,
        state=state if state in service.STATES else None,
        search=search,
        page=page_params(number),
    )
    emails = await service.customer_emails(session, user.account_id, [c.customer_id for c in page.items])
    return render(
        request,
        "sessions.html",
        user=user,
        page=page,
        rows=[(c, checkout_service.state(c), emails.get(c.customer_id or "")) for c in page.items],
        state=state if state in service.STATES else "",
        states=service.STATES,
        search=search or "",
        page_number=number,
        last_page=last_page(page.total),
    )


@router.get("/{checkout_id}")
async def session_detail(request: Request, checkout_id: str, user: SignedInUser, session: Session) -> Response:
    try:
        story = await service.session_story(session, user.account_id, checkout_id[:100])
    except NotFound:
        return not_found(request, user)
    checkout = story.checkout
    state = checkout_service.state(checkout)
    url = hosted_url(request, checkout.secure_token)
    qr = Markup(  # noqa: S704 - segno's own SVG of our URL: no text of a user's reaches it unescaped
        segno.make(url, error="m").svg_inline(scale=4, border=4, title="QR code of the checkout link", dark="#000")
    )
    return render(
        request,
        "session_detail.html",
        user=user,
        story=story,
        checkout=checkout,
        state=state,
        url=url,
        qr=qr if state == "open" else None,
        created=request.query_params.get("created") == "1",
        tiers=[checkout_service.tier_items(checkout, tier) for tier in range(checkout_service.tier_count(checkout))],
    )


async def _form_page(
    request: Request, user: SignedInUser, session: Session, form: CreateForm, *, status_code: int
) -> Response:
    return render(
        request,
        "new_session.html",
        user=user,
        status_code=status_code,
        form=form,
        line_rows=range(LINE_ROWS),
        metadata_rows=range(METADATA_ROWS),
        customers=await service.customer_choices(session, user.account_id),
        prices=await service.price_choices(session, user.account_id),
        coupons=await service.coupon_choices(session, user.account_id),
        max_hours=checkout_service.MAX_EXPIRY_HOURS,
        min_hours=checkout_service.MIN_EXPIRY_HOURS,
    )


def _field_names() -> list[str]:
    names = ["customer_id", "expires_in_hours", "success_url", "return_url", "promotion_code", "coupon_id"]
    names += [f"{kind}.{row}" for row in range(LINE_ROWS) for kind in ("price_id", "quantity")]
    names += [f"{kind}.{row}" for row in range(METADATA_ROWS) for kind in ("metadata_key", "metadata_value")]
    return names


def _spec(form: CreateForm, posted: FormData) -> tuple[checkout_service.NewCheckoutSession, list[int]]:
    """The service's input, and for each line item it holds the form row it came from. Only what a form's text
    can get wrong is checked here (a number that isn't one, a metadata row); every rule is the service's."""
    values = form.values
    hours = _integer(form, "expires_in_hours", values["expires_in_hours"] or str(checkout_service.DEFAULT_EXPIRY_HOURS))
    lines: list[checkout_service.LineItemSpec] = []
    rows: list[int] = []
    for row in range(LINE_ROWS):
        price_id, quantity_text = values[f"price_id.{row}"], values[f"quantity.{row}"]
        if not price_id:
            if quantity_text and quantity_text != "1":
                form.errors[f"line_items.{row}.price_id"] = QUANTITY_WITHOUT_PRICE
            continue
        quantity = _integer(form, f"line_items.{row}.quantity", quantity_text or "1")
        if quantity is not None and not 1 <= quantity <= checkout_service.MAX_QUANTITY:
            form.errors[f"line_items.{row}.quantity"] = f"must be between 1 and {checkout_service.MAX_QUANTITY}"
        lines.append(checkout_service.LineItemSpec(price_id, quantity or 1))
        rows.append(row)
    metadata: dict[str, str] = {}
    for row in range(METADATA_ROWS):
        key, value = values[f"metadata_key.{row}"].strip(), values[f"metadata_value.{row}"]
        if not key:
            if value:
                form.errors[f"metadata.{row}.key"] = "Give this value a key"
            continue
        if len(key) > MAX_KEY_LENGTH:
            form.errors[f"metadata.{row}.key"] = f"String should have at most {MAX_KEY_LENGTH} characters"
        if len(value) > MAX_VALUE_LENGTH:
            form.errors[f"metadata.{row}.value"] = f"String should have at most {MAX_VALUE_LENGTH} characters"
        if key in metadata:
            form.errors[f"metadata.{row}.key"] = "This key is given twice"
        metadata[key] = value
    if len(metadata) > MAX_KEYS:
        form.alerts.append(f"metadata: at most {MAX_KEYS} keys")
    spec = checkout_service.NewCheckoutSession(
        success_url=values["success_url"].strip(),
        return_url=values["return_url"].strip(),
        line_items=lines,
        customer_id=values["customer_id"] or None,
        expires_in_hours=hours if hours is not None else checkout_service.DEFAULT_EXPIRY_HOURS,
        coupon_id=values["coupon_id"] or None,
        promotion_code=values["promotion_code"].strip() or None,
        metadata=metadata,
    )
    return spec, rows


def _place(form: CreateForm, problem: FieldProblem, line_rows: list[int]) -> None:
    """A service's problem next to the field it names: a line item's index is the form row it came from."""
    path = list(problem.path)
    if len(path) >= 2 and path[0] == "line_items" and isinstance(path[1], int) and path[1] < len(line_rows):
        path[1] = line_rows[path[1]]
        if len(path) == 2:
            path.append("price_id")
    key = ".".join(map(str, path))
    if key in _PLACED or (len(path) == 3 and path[0] == "line_items"):
        form.errors.setdefault(key, problem.msg)
    else:
        form.alerts.append(f"{key}: {problem.msg}")


_PLACED: Final = frozenset(
    {"customer_id", "expires_in_hours", "success_url", "return_url", "promotion_code", "coupon_id", "line_items"}
)


def _integer(form: CreateForm, path: str, text: str) -> int | None:
    try:
        return int(text.strip(), 10) if text.strip().isascii() else int("x")
    except ValueError:
        form.errors[path] = NOT_A_NUMBER
        return None


def _text(value: object) -> str:
    return value[:MAX_FIELD_LENGTH] if isinstance(value, str) else ""
