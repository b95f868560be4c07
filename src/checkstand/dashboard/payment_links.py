"""Payment links in the dashboard: list them, create one, read one (its link to share, the sessions its visits
opened), change its name and URLs, deactivate and reactivate it.

Every change is the call the API makes (:mod:`checkstand.payment_links.service`): the same checks, the same messages,
shown next to the field each names. The create form is the create checkout form's line items, discount and metadata
(:mod:`checkstand.dashboard.checkouts`), read by the same code."""

from __future__ import annotations

from typing import Any, Final

from fastapi import APIRouter, Request
from fastapi.responses import Response

from checkstand.api.http.unit_of_work import Session
from checkstand.checkout import service as checkout_service
from checkstand.core.errors import InvalidFields, NotFound
from checkstand.core.listing import ListParams
from checkstand.dashboard import checkouts, service
from checkstand.dashboard.forms import MAX_ID_LENGTH, MAX_NAME_LENGTH, MAX_SEARCH_LENGTH, Form, text, too_long
from checkstand.dashboard.paging import last_page, page_number, page_params
from checkstand.dashboard.web import PREFIX, CheckedForm, SignedInUser, not_found, redirect, render
from checkstand.payment_links import service as payment_links
from checkstand.payment_links.models import PaymentLink

router = APIRouter(prefix=f"{PREFIX}/payment-links", include_in_schema=False)

ACTIVITY: Final = {"active": True, "inactive": False}
_TERMS: Final = ("name", "success_url", "return_url")
_PLACED: Final = frozenset({*_TERMS, "expires_in_hours", "promotion_code", "coupon_id", "line_items", "mode"})


def public_url(request: Request, link: PaymentLink) -> str:
    return f"{request.app.state.settings.resolved_public_url}{payment_links.PUBLIC_PATH}/{link.secure_token}"


@router.get("")
async def list_links(request: Request, user: SignedInUser, session: Session) -> Response:
    search = (request.query_params.get("q") or "").strip()[:MAX_SEARCH_LENGTH]
    activity = request.query_params.get("status") or ""
    activity = activity if activity in ACTIVITY else ""
    number = page_number(request.query_params.get("page"))
    params = ListParams(
        page=page_params(number),
        filters={"is_active": ACTIVITY[activity]} if activity else {},
        search=search or None,
    )
    page = await payment_links.list_links(session, user.account_id, params)
    return render(
        request,
        "payment_links_list.html",
        user=user,
        page=page,
        filters={"status": activity, "q": search},
        page_number=number,
        last_page=last_page(page.total),
    )


@router.get("/new")
async def new_link_form(request: Request, user: SignedInUser, session: Session) -> Response:
    form = Form(values={"expires_in_hours": str(checkout_service.DEFAULT_EXPIRY_HOURS), "quantity.0": "1"})
    return await _form_page(request, user, session, form, status_code=200)


@router.post("/new")
async def create_link(request: Request, user: SignedInUser, form: CheckedForm, session: Session) -> Response:
    typed = Form.of(form, _FIELDS)
    values = typed.values
    name = typed.text("name", max_length=MAX_NAME_LENGTH)
    hours = typed.whole_number("expires_in_hours")
    lines, line_rows = checkouts.line_items(typed)
    metadata = typed.metadata(rows=checkouts.METADATA_ROWS)
    if typed.errors:
        return await _form_page(request, user, session, typed, status_code=422)
    spec = payment_links.NewPaymentLink(
        success_url=values["success_url"].strip(),
        line_items=lines,
        name=name,
        return_url=values["return_url"].strip() or None,
        expires_in_hours=hours if hours is not None else checkout_service.DEFAULT_EXPIRY_HOURS,
        coupon_id=values["coupon_id"] or None,
        promotion_code=values["promotion_code"].strip() or None,
        metadata=metadata,
    )
    try:
        link = await payment_links.create_link(session, user.account_id, spec)
    except InvalidFields as refused:
        for problem in refused.problems:
            checkouts.place(typed, problem, line_rows, _PLACED)
        return await _form_page(request, user, session, typed, status_code=422)
    return redirect(f"{router.prefix}/{link.id}?created=1")


@router.get("/{link_id}")
async def link_detail(request: Request, link_id: str, user: SignedInUser, session: Session) -> Response:
    return await _detail(request, user, session, link_id[:MAX_ID_LENGTH])


@router.post("/{link_id}")
async def update_link(
    request: Request, link_id: str, user: SignedInUser, form: CheckedForm, session: Session
) -> Response:
    """The name and the URLs; an emptied return URL is removed (a visit's way back is then the success URL's site)."""
    link_id = link_id[:MAX_ID_LENGTH]
    values = {name: text(form.get(name)).strip() for name in _TERMS}
    changes: dict[str, Any] = {
        "name": values["name"] or None,
        "success_url": values["success_url"],
        "return_url": values["return_url"] or None,
    }
    if len(values["name"]) > MAX_NAME_LENGTH:
        errors = {"name": too_long(MAX_NAME_LENGTH)}
        return await _detail(request, user, session, link_id, values=values, errors=errors, status_code=422)
    try:
        await payment_links.update_link(session, user.account_id, link_id, changes)
    except NotFound:
        return not_found(request, user)
    except InvalidFields as refused:
        # The service set what it could before refusing; the page shows the link as stored (nothing is committed).
        session.expire_all()
        errors = {str(problem.path[0]): problem.msg for problem in refused.problems if problem.path}
        return await _detail(request, user, session, link_id, values=values, errors=errors, status_code=422)
    return redirect(f"{router.prefix}/{link_id}?updated=1")


@router.post("/{link_id}/deactivate")
async def deactivate_link(
    request: Request, link_id: str, user: SignedInUser, form: CheckedForm, session: Session
) -> Response:
    return await _set_active(request, user, session, link_id[:MAX_ID_LENGTH], active=False)


@router.post("/{link_id}/activate")
async def activate_link(
    request: Request, link_id: str, user: SignedInUser, form: CheckedForm, session: Session
) -> Response:
    return await _set_active(request, user, session, link_id[:MAX_ID_LENGTH], active=True)


async def _set_active(
    request: Request, user: SignedInUser, session: Session, link_id: str, *, active: bool
) -> Response:
    try:
        await payment_links.update_link(session, user.account_id, link_id, {"is_active": active})
    except NotFound:
        return not_found(request, user)
    except InvalidFields as refused:
        alert = "; ".join(f"{'.'.join(map(str, p.path))}: {p.msg}" if p.path else p.msg for p in refused.problems)
        return await _detail(request, user, session, link_id, alert=f"Not reactivated: {alert}", status_code=422)
    return redirect(f"{router.prefix}/{link_id}?{'activated' if active else 'deactivated'}=1")


async def _detail(
    request: Request,
    user: SignedInUser,
    session: Session,
    link_id: str,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    alert: str | None = None,
    status_code: int = 200,
) -> Response:
    number = page_number(request.query_params.get("page"))
    try:
        link = await payment_links.get_link(session, user.account_id, link_id)
        sessions = await payment_links.list_sessions(session, user.account_id, link.id, page_params(number))
    except NotFound:
        return not_found(request, user)
    url = public_url(request, link)
    prices = {choice.value: choice.label for choice in await service.price_choices(session, user.account_id)}
    shown = values or {"name": link.name or "", "success_url": link.success_url, "return_url": link.return_url or ""}
    return render(
        request,
        "payment_links_detail.html",
        user=user,
        status_code=status_code,
        link=link,
        url=url,
        qr=checkouts.qr_code(url, "QR code of the payment link") if link.is_active else None,
        prices=prices,
        sessions=sessions,
        rows=[(checkout, checkout_service.state(checkout)) for checkout in sessions.items],
        values=shown,
        errors=errors or {},
        alert=alert,
        notice=next((word for word in _NOTICES if request.query_params.get(word) == "1"), None),
        filters={},
        page=sessions,
        page_number=number,
        last_page=last_page(sessions.total),
    )


_NOTICES: Final = ("created", "updated", "deactivated", "activated")
_FIELDS: Final = ("name", "expires_in_hours", "success_url", "return_url", *checkouts.ITEM_FIELDS)


async def _form_page(
    request: Request, user: SignedInUser, session: Session, form: Form, *, status_code: int
) -> Response:
    return render(
        request,
        "payment_links_new.html",
        user=user,
        status_code=status_code,
        form=form,
        line_rows=range(checkouts.LINE_ROWS),
        metadata_rows=range(checkouts.METADATA_ROWS),
        prices=await service.price_choices(session, user.account_id),
        coupons=await service.coupon_choices(session, user.account_id),
        max_hours=checkout_service.MAX_EXPIRY_HOURS,
        min_hours=checkout_service.MIN_EXPIRY_HOURS,
    )
