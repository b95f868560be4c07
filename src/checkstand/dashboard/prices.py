"""Prices in the dashboard: created from their product's page, then read and changed on their own.

The form creates what a merchant sells most: a per-unit price, one-time or recurring (interval, count, trial days),
optionally sold by the package, its amount typed in the major unit ("19.99") and converted with ``core.money``.
Tiered prices, metered prices, contract terms and add-ons are made through the API; their page shows them. As the
API's ``PATCH prices/{id}``, a price's economics never change: its nickname and metadata can, and it can be archived
(no new checkout sells it) or made active again. Every call is the API's service call, with its messages."""

from __future__ import annotations

from typing import Final

from fastapi import APIRouter, Request
from fastapi.responses import Response

from checkstand.api.http.unit_of_work import Session
from checkstand.catalog import service as catalog
from checkstand.catalog.models import Price, Product
from checkstand.core.errors import Conflict, InvalidFields, NotFound
from checkstand.core.money import format_money
from checkstand.dashboard import forms
from checkstand.dashboard.web import PREFIX, CheckedForm, SignedInUser, not_found, redirect, render

router = APIRouter(prefix=PREFIX, include_in_schema=False)

INTERVALS: Final = ("day", "week", "month", "year")
PRICING_TYPES: Final = {catalog.ONE_TIME: "One-time", catalog.RECURRING: "Recurring"}
NEW_FIELDS: Final = [
    "name",
    "currency",
    "unit_amount",
    "pricing_type",
    "recurring_interval",
    "recurring_interval_count",
    "trial_days",
    "quantity_divisor",
]
# Where a service's problem is shown on the price forms.
FIELDS: Final = {
    "product_id": "product_id",
    "name": "name",
    "currency": "currency",
    "unit_amount_atom": "unit_amount",
    "recurring_interval": "recurring_interval",
    "recurring_interval_count": "recurring_interval_count",
    "trial_days": "trial_days",
    "quantity_divisor": "quantity_divisor",
    "metadata": "metadata",
}
DONE: Final = {
    "saved": "Price saved.",
    "archived": "Price archived: no new checkout sells it.",
    "activated": "Price active again.",
}


@router.get("/products/{product_id}/prices/new")
async def new_price_form(request: Request, product_id: str, user: SignedInUser, session: Session) -> Response:
    try:
        product = await catalog.get_product(session, user.account_id, product_id[: forms.MAX_ID_LENGTH])
    except NotFound:
        return not_found(request, user)
    values = {"currency": "usd", "pricing_type": catalog.ONE_TIME, "recurring_interval": "month"}
    return _new_page(request, user, product, forms.Form(values=values), status_code=200)


@router.post("/products/{product_id}/prices/new")
async def create_price(
    request: Request, product_id: str, user: SignedInUser, form: CheckedForm, session: Session
) -> Response:
    try:
        product = await catalog.get_product(session, user.account_id, product_id[: forms.MAX_ID_LENGTH])
    except NotFound:
        return not_found(request, user)
    typed = forms.Form.of(form, NEW_FIELDS)
    currency = typed.value("currency").strip().lower()
    recurring = typed.value("pricing_type") == catalog.RECURRING
    name = typed.text("name", max_length=forms.MAX_NAME_LENGTH)
    unit_amount_atom = typed.minor_units("unit_amount", currency)
    # The interval fields are the recurring price's: a one-time price leaves them as they were typed, unread.
    interval_count = typed.whole_number("recurring_interval_count") if recurring else None
    trial_days = typed.whole_number("trial_days")
    divisor = typed.whole_number("quantity_divisor")
    if typed.errors:
        return _new_page(request, user, product, typed, status_code=422)
    try:
        await catalog.create_price(
            session,
            user.account_id,
            product_id=product.id,
            currency=currency,
            unit_amount_atom=unit_amount_atom,
            pricing_type=catalog.RECURRING if recurring else catalog.ONE_TIME,
            recurring_interval=(typed.value("recurring_interval") or None) if recurring else None,
            recurring_interval_count=interval_count,
            trial_days=trial_days,
            name=name,
            quantity_divisor=divisor,
        )
    except InvalidFields as refused:
        typed.place(refused.problems, FIELDS)
        return _new_page(request, user, product, typed, status_code=422)
    return redirect(f"{PREFIX}/products/{product.id}?done=price_created")


@router.get("/prices/{price_id}")
async def price_detail(request: Request, price_id: str, user: SignedInUser, session: Session) -> Response:
    try:
        price = await catalog.get_price(session, user.account_id, price_id[: forms.MAX_ID_LENGTH])
    except NotFound:
        return not_found(request, user)
    notice = DONE.get(request.query_params.get("done") or "")
    return _detail_page(request, user, price, _edit_form(price), notice=notice, status_code=200)


@router.post("/prices/{price_id}")
async def update_price(
    request: Request, price_id: str, user: SignedInUser, form: CheckedForm, session: Session
) -> Response:
    try:
        price = await catalog.get_price(session, user.account_id, price_id[: forms.MAX_ID_LENGTH])
    except NotFound:
        return not_found(request, user)
    typed = forms.Form.of(form, ["name", *forms.metadata_names()])
    changes = {
        "name": typed.text("name", max_length=forms.MAX_NAME_LENGTH),
        "metadata": typed.metadata(price.price_metadata),
    }
    if typed.errors:
        return _detail_page(request, user, price, typed, status_code=422)
    try:
        await catalog.update_price(session, user.account_id, price.id, changes)
    except InvalidFields as refused:
        typed.place(refused.problems, FIELDS)
        return _detail_page(request, user, price, typed, status_code=422)
    return redirect(f"{PREFIX}/prices/{price.id}?done=saved")


@router.post("/prices/{price_id}/status")
async def set_status(
    request: Request, price_id: str, user: SignedInUser, form: CheckedForm, session: Session
) -> Response:
    """Archive (the API's ``is_active: false``) or make active again; the product's default price can't be
    archived, as the API refuses."""
    try:
        price = await catalog.get_price(session, user.account_id, price_id[: forms.MAX_ID_LENGTH])
    except NotFound:
        return not_found(request, user)
    action = form.get("action")
    if action not in ("archive", "activate"):
        return _detail_page(request, user, price, _edit_form(price), alert="Choose an action.", status_code=422)
    try:
        await catalog.update_price(session, user.account_id, price.id, {"is_active": action == "activate"})
    except Conflict as refused:
        return _detail_page(request, user, price, _edit_form(price), alert=refused.detail, status_code=409)
    return redirect(f"{PREFIX}/prices/{price.id}?done={'activated' if action == 'activate' else 'archived'}")


def _edit_form(price: Price) -> forms.Form:
    return forms.Form(values={"name": price.name or "", **forms.metadata_values(price.price_metadata)})


def _detail_page(
    request: Request,
    user: SignedInUser,
    price: Price,
    form: forms.Form,
    *,
    notice: str | None = None,
    alert: str | None = None,
    status_code: int,
) -> Response:
    return render(
        request,
        "prices_detail.html",
        user=user,
        status_code=status_code,
        price=price,
        product=price.product,
        billing=billing(price),
        form=form,
        metadata_rows=range(form.metadata_row_count()),
        notice=notice,
        alert=alert,
        max_name=forms.MAX_NAME_LENGTH,
    )


def _new_page(
    request: Request, user: SignedInUser, product: Product, form: forms.Form, *, status_code: int
) -> Response:
    return render(
        request,
        "prices_new.html",
        user=user,
        status_code=status_code,
        product=product,
        form=form,
        pricing_types=PRICING_TYPES,
        intervals=INTERVALS,
        max_name=forms.MAX_NAME_LENGTH,
        max_trial_days=catalog.MAX_TRIAL_DAYS,
    )


def billing(price: Price) -> str:
    """How often a price bills, as a person says it: "once", "every month", "every 3 months"."""
    if price.recurring_interval is None:
        return "once"
    count = price.recurring_interval_count or 1
    return f"every {price.recurring_interval}" if count == 1 else f"every {count} {price.recurring_interval}s"


def price_label(price: Price) -> str:
    """A price in a choice: its nickname, amount and how often it bills."""
    amount = format_money(price.unit_amount_atom, price.currency) if price.tiers is None else "tiered"
    name = f"{price.name} · " if price.name else ""
    return f"{name}{amount}, {billing(price)}"
