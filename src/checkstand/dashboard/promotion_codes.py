"""Promotion codes in the dashboard: the list (searched by code or id, filtered by state or coupon), one code's
limits, redemptions and the checkout sessions completed with it, and deactivating or activating it again.

A code is created from its coupon's page (:mod:`checkstand.dashboard.coupons`). Every change is the call the API's
``PUT promotion-codes/{id}`` makes."""

from __future__ import annotations

from typing import Final

from fastapi import APIRouter, Request
from fastapi.responses import Response

from checkstand.api.http.unit_of_work import Session
from checkstand.core import clock
from checkstand.core.errors import BusinessRuleViolation, NotFound
from checkstand.core.listing import ListParams
from checkstand.dashboard import discount_uses
from checkstand.dashboard.coupons import MAX_SEARCH_LENGTH, terms
from checkstand.dashboard.forms import MAX_ID_LENGTH
from checkstand.dashboard.paging import last_page, page_number, page_params
from checkstand.dashboard.web import PREFIX, CheckedForm, SignedInUser, not_found, redirect, render
from checkstand.discounts import coupons, promotion_codes, redemptions
from checkstand.discounts.redemptions import check_promotion_code_state

router = APIRouter(prefix=f"{PREFIX}/coupons/promotion-codes", include_in_schema=False)

STATES: Final = {"active": True, "inactive": False}
DONE: Final = {
    "created": "Promotion code created.",
    "activated": "Promotion code activated.",
    "deactivated": "Promotion code deactivated: customers can't use it until it is activated again.",
}


@router.get("")
async def list_codes(request: Request, user: SignedInUser, session: Session) -> Response:
    query = request.query_params
    search = (query.get("q") or "").strip()[:MAX_SEARCH_LENGTH]
    state = query.get("state") if query.get("state") in STATES else None
    coupon_id = (query.get("coupon") or "").strip()[:MAX_ID_LENGTH]
    number = page_number(query.get("page"))
    params = ListParams(
        page=page_params(number),
        filters={"active": STATES[state]} if state is not None else {},
        search=search or None,
    )
    page = await promotion_codes.list_promotion_codes(session, user.account_id, params, coupon_id=coupon_id or None)
    return render(
        request,
        "promotion_codes_list.html",
        user=user,
        page=page,
        filters={"state": state or "", "q": search, "coupon": coupon_id},
        page_number=number,
        last_page=last_page(page.total),
    )


@router.get("/{code_id}")
async def code_detail(request: Request, code_id: str, user: SignedInUser, session: Session) -> Response:
    return await _detail(request, user, session, code_id, notice=DONE.get(request.query_params.get("done") or ""))


@router.post("/{code_id}/activate")
async def activate(request: Request, code_id: str, user: SignedInUser, form: CheckedForm, session: Session) -> Response:
    return await _set_active(request, user, session, code_id, True)


@router.post("/{code_id}/deactivate")
async def deactivate(
    request: Request, code_id: str, user: SignedInUser, form: CheckedForm, session: Session
) -> Response:
    return await _set_active(request, user, session, code_id, False)


async def _set_active(request: Request, user: SignedInUser, session: Session, code_id: str, active: bool) -> Response:
    code_id = code_id[:MAX_ID_LENGTH]
    try:
        await promotion_codes.update_promotion_code(session, user.account_id, code_id, {"active": active})
    except NotFound:
        return not_found(request, user)
    return redirect(f"{router.prefix}/{code_id}?done={'activated' if active else 'deactivated'}")


async def _detail(
    request: Request,
    user: SignedInUser,
    session: Session,
    code_id: str,
    *,
    notice: str | None = None,
) -> Response:
    number = page_number(request.query_params.get("page"))
    try:
        code = await promotion_codes.get_promotion_code(session, user.account_id, code_id[:MAX_ID_LENGTH])
        coupon = await coupons.get_coupon(session, user.account_id, code.coupon_id)
    except NotFound:
        return not_found(request, user)
    used = await redemptions.list_redemptions(
        session, user.account_id, coupon.id, page_params(number), promotion_code_id=code.id
    )
    now = clock.now()
    try:
        check_promotion_code_state(code, now)
        refusal = coupon.refusal_at(now)
    except BusinessRuleViolation as refused:
        refusal = (refused.detail, refused.code)
    return render(
        request,
        "promotion_codes_detail.html",
        user=user,
        code=code,
        coupon=coupon,
        terms=terms(coupon),
        refusal=refusal,
        redemptions=used,
        sessions=await discount_uses.sessions_using(session, user.account_id, coupon.id, promotion_code_id=code.id),
        notice=notice,
        page_number=number,
        last_page=last_page(used.total),
    )
