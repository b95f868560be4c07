"""Coupons in the dashboard: the list (searched by name or id, filtered by status), one coupon's terms in words, its
promotion codes, redemptions and the checkout sessions completed with it; create, activate, deactivate, delete,
and a new promotion code from the coupon's page.

Every change is the call the API's ``coupons/`` and ``promotion-codes/`` make, with the same checks and messages,
shown next to the field each names; the forms only turn their text into the service's input."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Final

from fastapi import APIRouter, Request
from fastapi.responses import Response

from checkstand.api.http.unit_of_work import Session
from checkstand.core import clock, money
from checkstand.core.errors import Conflict, InvalidFields, NotFound
from checkstand.core.listing import ListParams
from checkstand.core.money import format_money
from checkstand.dashboard import discount_uses
from checkstand.dashboard.forms import MAX_COUNT, MAX_ID_LENGTH, Form
from checkstand.dashboard.paging import last_page, page_number, page_params
from checkstand.dashboard.web import PREFIX, CheckedForm, SignedInUser, not_found, redirect, render
from checkstand.discounts import coupons, promotion_codes, redemptions
from checkstand.discounts.maths import AMOUNT_OFF, DISCOUNT_TYPES, PERCENT_OFF, TRIAL_EXTENSION
from checkstand.discounts.models import ACTIVE, DELETED, INACTIVE, Coupon
from checkstand.discounts.promotion_codes import CODE_PATTERN

router = APIRouter(prefix=f"{PREFIX}/coupons", include_in_schema=False)

STATUSES: Final = (ACTIVE, INACTIVE, DELETED)
MAX_SEARCH_LENGTH: Final = 200
# As the API's schema bounds them, so a value never overflows its column.
MAX_MONTHS: Final = 1200
MAX_DAYS: Final = 36_500
MAX_PERCENT_PLACES: Final = 2
MAX_NAME_LENGTH: Final = 200

COUPON_FIELDS: Final = (
    "name",
    "discount_type",
    "percent_off",
    "amount_off",
    "currency",
    "trial_days_off",
    "duration",
    "duration_in_months",
    "max_redemptions",
    "valid_until",
)
# The service's name of a field -> the form's.
COUPON_PLACES: Final = {
    "name": "name",
    "discount_type": "discount_type",
    "percent_off_bp": "percent_off",
    "amount_atom_off": "amount_off",
    "currency": "currency",
    "trial_days_off": "trial_days_off",
    "duration": "duration",
    "duration_in_months": "duration_in_months",
    "max_redemptions": "max_redemptions",
    "valid_until": "valid_until",
}
CODE_FIELDS: Final = ("code", "max_redemptions", "expires_at", "first_time_transaction")
CODE_PLACES: Final = {"code": "code", "max_redemptions": "max_redemptions", "expires_at": "expires_at"}
CODE_RULE: Final = "Letters, digits, '-' and '_', up to 64, starting with a letter or digit"
DELETE_UNCONFIRMED: Final = "Tick the box to delete this coupon"


def terms(coupon: Coupon) -> str:
    """ "20% off for 3 months", "$5.00 off once", "14 more trial days": what the coupon gives, and for how long."""
    if coupon.discount_type == TRIAL_EXTENSION:
        days = coupon.trial_days_off or 0
        return f"{days} more trial day{'' if days == 1 else 's'}"
    if coupon.percent_off_bp is not None:
        percent = Decimal(coupon.percent_off_bp) / 100
        off = f"{percent.normalize():f}% off"
    else:
        off = f"{format_money(coupon.amount_atom_off or 0, coupon.currency or '')} off"
    if coupon.duration == "repeating" and coupon.duration_in_months:
        months = coupon.duration_in_months
        return f"{off} for {months} month{'' if months == 1 else 's'}"
    return f"{off} forever" if coupon.duration == "forever" else f"{off} once"


@router.get("")
async def list_coupons(request: Request, user: SignedInUser, session: Session) -> Response:
    query = request.query_params
    search = (query.get("q") or "").strip()[:MAX_SEARCH_LENGTH]
    status = query.get("status") if query.get("status") in STATUSES else None
    number = page_number(query.get("page"))
    page = await coupons.list_coupons(
        session, user.account_id, ListParams(page=page_params(number), search=search or None), status=status
    )
    return render(
        request,
        "coupons_list.html",
        user=user,
        page=page,
        terms=terms,
        statuses=STATUSES,
        filters={"status": status or "", "q": search},
        page_number=number,
        last_page=last_page(page.total),
    )


@router.get("/new")
async def new_coupon_form(request: Request, user: SignedInUser) -> Response:
    form = Form(values={"discount_type": PERCENT_OFF, "duration": "once", "currency": "usd"})
    return _coupon_form(request, user, form, status_code=200)


@router.post("/new")
async def create_coupon(request: Request, user: SignedInUser, form: CheckedForm, session: Session) -> Response:
    typed = Form.of(form, COUPON_FIELDS)
    kind = typed.value("discount_type")
    if kind not in DISCOUNT_TYPES:
        typed.errors["discount_type"] = "Choose what the coupon takes off"
    percent_off_bp = _basis_points(typed) if kind == PERCENT_OFF else None
    amount_atom_off, currency = _amount(typed) if kind == AMOUNT_OFF else (None, "")
    trial_days_off = typed.whole_number("trial_days_off", high=MAX_DAYS) if kind == TRIAL_EXTENSION else None
    duration = typed.value("duration")
    months = typed.whole_number("duration_in_months", high=MAX_MONTHS) if duration == "repeating" else None
    max_redemptions = typed.whole_number("max_redemptions", high=MAX_COUNT)
    valid_until = typed.utc_time("valid_until")
    name = typed.text("name", max_length=MAX_NAME_LENGTH)
    if typed.errors:
        return _coupon_form(request, user, typed, status_code=422)
    try:
        coupon = await coupons.create_coupon(
            session,
            user.account_id,
            discount_type=kind,
            name=name,
            amount_atom_off=amount_atom_off,
            percent_off_bp=percent_off_bp,
            trial_days_off=trial_days_off,
            currency=currency or None,
            duration=duration,
            duration_in_months=months,
            max_redemptions=max_redemptions,
            valid_until=valid_until,
        )
    except InvalidFields as refused:
        typed.place(refused.problems, COUPON_PLACES)
        return _coupon_form(request, user, typed, status_code=422)
    return redirect(f"{router.prefix}/{coupon.id}?done=created")


DONE: Final = {
    "created": "Coupon created.",
    "activated": "Coupon activated: it can be used again.",
    "deactivated": "Coupon deactivated: it can't be used until it is activated again.",
    "deleted": "Coupon deleted: it and its promotion codes can't be used any more.",
    "code": "Promotion code created.",
}


@router.get("/{coupon_id}")
async def coupon_detail(request: Request, coupon_id: str, user: SignedInUser, session: Session) -> Response:
    notice = DONE.get(request.query_params.get("done") or "")
    return await _detail(request, user, session, coupon_id, notice=notice)


@router.post("/{coupon_id}/activate")
async def activate(
    request: Request, coupon_id: str, user: SignedInUser, form: CheckedForm, session: Session
) -> Response:
    return await _set_active(request, user, session, coupon_id, True)


@router.post("/{coupon_id}/deactivate")
async def deactivate(
    request: Request, coupon_id: str, user: SignedInUser, form: CheckedForm, session: Session
) -> Response:
    return await _set_active(request, user, session, coupon_id, False)


async def _set_active(request: Request, user: SignedInUser, session: Session, coupon_id: str, active: bool) -> Response:
    try:
        await coupons.set_coupon_active(session, user.account_id, coupon_id[:MAX_ID_LENGTH], active)
    except NotFound:
        return not_found(request, user)
    except Conflict as refused:
        return await _detail(request, user, session, coupon_id, alert=refused.detail, status_code=409)
    return redirect(f"{router.prefix}/{coupon_id}?done={'activated' if active else 'deactivated'}")


@router.post("/{coupon_id}/delete")
async def delete(request: Request, coupon_id: str, user: SignedInUser, form: CheckedForm, session: Session) -> Response:
    if form.get("confirm") != "yes":
        try:
            await coupons.get_coupon(session, user.account_id, coupon_id[:MAX_ID_LENGTH])
        except NotFound:
            return not_found(request, user)
        return await _detail(request, user, session, coupon_id, delete_error=DELETE_UNCONFIRMED, status_code=422)
    try:
        await coupons.delete_coupon(session, user.account_id, coupon_id[:MAX_ID_LENGTH])
    except NotFound:
        return not_found(request, user)
    return redirect(f"{router.prefix}/{coupon_id}?done=deleted")


@router.post("/{coupon_id}/promotion-codes")
async def create_promotion_code(
    request: Request, coupon_id: str, user: SignedInUser, form: CheckedForm, session: Session
) -> Response:
    coupon_id = coupon_id[:MAX_ID_LENGTH]
    typed = Form.of(form, CODE_FIELDS)
    code = typed.value("code").strip()
    if not re.fullmatch(CODE_PATTERN, code):
        typed.errors["code"] = CODE_RULE
    max_redemptions = typed.whole_number("max_redemptions", high=MAX_COUNT)
    expires_at = typed.utc_time("expires_at")
    try:
        await coupons.get_coupon(session, user.account_id, coupon_id)
        if typed.errors:
            return await _detail(request, user, session, coupon_id, code_form=typed, status_code=422)
        created = await promotion_codes.create_promotion_code(
            session,
            user.account_id,
            coupon_id=coupon_id,
            code=code,
            max_redemptions=max_redemptions,
            expires_at=expires_at,
            first_time_transaction=typed.value("first_time_transaction") == "yes",
        )
    except NotFound:
        return not_found(request, user)
    except InvalidFields as refused:
        typed.place(refused.problems, CODE_PLACES)
        return await _detail(request, user, session, coupon_id, code_form=typed, status_code=422)
    except Conflict as refused:
        typed.errors["code"] = refused.detail
        return await _detail(request, user, session, coupon_id, code_form=typed, status_code=409)
    return redirect(f"{PREFIX}/coupons/promotion-codes/{created.id}?done=created")


async def _detail(
    request: Request,
    user: SignedInUser,
    session: Session,
    coupon_id: str,
    *,
    notice: str | None = None,
    alert: str | None = None,
    delete_error: str | None = None,
    code_form: Form | None = None,
    status_code: int = 200,
) -> Response:
    coupon_id = coupon_id[:MAX_ID_LENGTH]
    number = page_number(request.query_params.get("page"))
    try:
        coupon = await coupons.get_coupon(session, user.account_id, coupon_id)
    except NotFound:
        return not_found(request, user)
    codes = await promotion_codes.list_promotion_codes(
        session, user.account_id, ListParams(page=page_params(1)), coupon_id=coupon.id
    )
    used = await redemptions.list_redemptions(session, user.account_id, coupon.id, page_params(number))
    code_texts = {code.id: code.code for code in codes.items}
    return render(
        request,
        "coupons_detail.html",
        user=user,
        status_code=status_code,
        coupon=coupon,
        terms=terms(coupon),
        refusal=coupon.refusal_at(clock.now()),
        codes=codes,
        code_texts=code_texts,
        redemptions=used,
        sessions=await discount_uses.sessions_using(session, user.account_id, coupon.id),
        notice=notice,
        alert=alert,
        delete_error=delete_error,
        code_form=code_form or Form(),
        page_number=number,
        last_page=last_page(used.total),
    )


def _basis_points(form: Form) -> int | None:
    """The percentage typed ("12.5") in basis points, exact: at most two decimals."""
    percent = form.decimal("percent_off")
    if percent is None:
        return None
    basis_points = percent * 100
    if basis_points != basis_points.to_integral_value():
        form.errors["percent_off"] = f"at most {MAX_PERCENT_PLACES} decimals (12.5)"
        return None
    return int(basis_points)


def _amount(form: Form) -> tuple[int | None, str]:
    """The amount typed in the major unit ("5.00"), in its currency's minor units, and that currency."""
    currency = form.value("currency").strip().lower()
    amount = form.decimal("amount_off")
    if currency and not money.is_currency(currency):
        form.errors["currency"] = f"{currency!r} is not an ISO 4217 currency"
    elif amount is not None and not currency:
        form.errors["currency"] = "Give the amount's currency (usd)"
    elif amount is not None:
        atom = promotion_codes.to_minor_exact(amount, currency)
        if atom is None:
            form.errors["amount_off"] = f"at most {money.exponent(currency)} decimals in {currency.upper()}"
        return atom, currency
    return None, currency


def _coupon_form(request: Request, user: SignedInUser, form: Form, *, status_code: int) -> Response:
    return render(
        request,
        "coupons_new.html",
        user=user,
        status_code=status_code,
        form=form,
        durations=coupons.DURATIONS,
    )
