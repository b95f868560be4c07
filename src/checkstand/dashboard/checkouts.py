"""Checkout sessions in the dashboard: create and share one, list them, and read one's whole story.

The create form goes through the very service call the API's ``POST checkout-sessions/`` makes (same checks, same
messages, shown next to the field each names); the form only turns its text into the service's input. A created
session's page shares the hosted page's link: selectable text, a copy button (with JavaScript), a QR code (inline
SVG from segno) and a link to open it."""

from __future__ import annotations

from typing import Final

import segno
from fastapi import APIRouter, Request
from fastapi.responses import Response
from markupsafe import Markup

from checkstand.api.http.unit_of_work import Session
from checkstand.checkout import service as checkout_service
from checkstand.core.errors import FieldProblem, InvalidFields, NotFound
from checkstand.dashboard import service
from checkstand.dashboard.forms import MAX_ID_LENGTH, Form, metadata_names
from checkstand.dashboard.paging import last_page, page_number, page_params
from checkstand.dashboard.web import PREFIX, CheckedForm, SignedInUser, not_found, redirect, render
from checkstand.pages import checkout as hosted_page
from checkstand.payments import plan_change_sessions
from checkstand.subscriptions import service as subscriptions

router = APIRouter(prefix=f"{PREFIX}/checkout-sessions", include_in_schema=False)

LINE_ROWS: Final = 5
METADATA_ROWS: Final = 5
QUANTITY_WITHOUT_PRICE: Final = "Choose a price for this quantity"


def hosted_url(request: Request, checkout_token: str) -> str:
    return f"{request.app.state.settings.resolved_public_url}{hosted_page.router.prefix}/{checkout_token}"


@router.get("/new")
async def new_session_form(request: Request, user: SignedInUser, session: Session) -> Response:
    form = Form(values={"expires_in_hours": str(checkout_service.DEFAULT_EXPIRY_HOURS), "quantity.0": "1"})
    return await _form_page(request, user, session, form, status_code=200)


@router.post("/new")
async def create_session(request: Request, user: SignedInUser, form: CheckedForm, session: Session) -> Response:
    typed = Form.of(form, _field_names())
    spec, line_rows = _spec(typed)
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
            place(typed, problem, line_rows)
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
        story = await service.session_story(session, user.account_id, checkout_id[:MAX_ID_LENGTH])
    except NotFound:
        return not_found(request, user)
    checkout = story.checkout
    state = checkout_service.state(checkout)
    url = hosted_url(request, checkout.secure_token)
    qr = qr_code(url, "QR code of the checkout link")
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


def qr_code(url: str, title: str) -> Markup:
    """An inline SVG of ``url`` to scan with a phone."""
    return Markup(  # noqa: S704 - segno's own SVG of our URL: no text of a user's reaches it unescaped
        segno.make(url, error="m").svg_inline(scale=4, border=4, title=title, dark="#000")
    )


async def _form_page(
    request: Request, user: SignedInUser, session: Session, form: Form, *, status_code: int
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


# The form's line item, discount and metadata fields: shared with the payment link form (``_checkout_items.html``).
ITEM_FIELDS: Final = (
    "promotion_code",
    "coupon_id",
    *(f"{kind}.{row}" for row in range(LINE_ROWS) for kind in ("price_id", "quantity")),
    *metadata_names(METADATA_ROWS),
)


def _field_names() -> list[str]:
    return ["customer_id", "expires_in_hours", "success_url", "return_url", *ITEM_FIELDS]


def _spec(form: Form) -> tuple[checkout_service.NewCheckoutSession, list[int]]:
    """The service's input, and for each line item it holds the form row it came from."""
    values = form.values
    hours = form.whole_number("expires_in_hours")
    lines, rows = line_items(form)
    spec = checkout_service.NewCheckoutSession(
        success_url=values["success_url"].strip(),
        return_url=values["return_url"].strip(),
        line_items=lines,
        customer_id=values["customer_id"] or None,
        expires_in_hours=hours if hours is not None else checkout_service.DEFAULT_EXPIRY_HOURS,
        coupon_id=values["coupon_id"] or None,
        promotion_code=values["promotion_code"].strip() or None,
        metadata=form.metadata(rows=METADATA_ROWS),
    )
    return spec, rows


def line_items(form: Form) -> tuple[list[checkout_service.LineItemSpec], list[int]]:
    """The line items the form's rows hold, and for each the form row it came from. Only what a form's text can get
    wrong is checked here (a number that isn't one); every rule is the service's."""
    values = form.values
    lines: list[checkout_service.LineItemSpec] = []
    rows: list[int] = []
    for row in range(LINE_ROWS):
        price_id, quantity_text = values[f"price_id.{row}"], values[f"quantity.{row}"]
        if not price_id:
            if quantity_text and quantity_text != "1":
                form.errors[f"line_items.{row}.price_id"] = QUANTITY_WITHOUT_PRICE
            continue
        quantity = form.whole_number(
            f"quantity.{row}", low=1, high=checkout_service.MAX_QUANTITY, at=f"line_items.{row}.quantity"
        )
        lines.append(checkout_service.LineItemSpec(price_id, quantity or 1))
        rows.append(row)
    return lines, rows


def place(form: Form, problem: FieldProblem, line_rows: list[int], placed: frozenset[str] | None = None) -> None:
    """A service's problem next to the field it names (one of ``placed``, or a line item's field), else at the top
    of the form: a line item's index is the form row it came from."""
    path = list(problem.path)
    if len(path) >= 2 and path[0] == "line_items" and isinstance(path[1], int) and path[1] < len(line_rows):
        path[1] = line_rows[path[1]]
        if len(path) == 2:
            path.append("price_id")
    key = ".".join(map(str, path))
    if key in (_PLACED if placed is None else placed) or (len(path) == 3 and path[0] == "line_items"):
        form.errors.setdefault(key, problem.msg)
    else:
        form.alerts.append(f"{key}: {problem.msg}")


_PLACED: Final = frozenset(
    {"customer_id", "expires_in_hours", "success_url", "return_url", "promotion_code", "coupon_id", "line_items"}
)
