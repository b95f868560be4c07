"""Payments in the dashboard: the list (by status, currency and UTC days; searched by payment id, customer id or
email) and one payment's story: its charges with their decline codes and refunds, the invoice it paid, and the
checkout it came from."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Request
from fastapi.responses import Response

from checkstand.api.http.unit_of_work import Session
from checkstand.core.errors import NotFound
from checkstand.dashboard import billing
from checkstand.dashboard import service as dashboard_service
from checkstand.dashboard.paging import last_page, page_number, page_params
from checkstand.dashboard.web import PREFIX, SignedInUser, not_found, render

router = APIRouter(prefix=f"{PREFIX}/payments", include_in_schema=False)


def _day(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text and len(text) == 10 else None
    except ValueError:
        return None


@router.get("")
async def list_payments(request: Request, user: SignedInUser, session: Session) -> Response:
    query = request.query_params
    status = query.get("status") if query.get("status") in billing.PAYMENT_STATUSES else None
    currencies = await billing.payment_currencies(session, user.account_id)
    currency = query.get("currency") if query.get("currency") in currencies else None
    since, until = _day(query.get("since")), _day(query.get("until"))
    search = (query.get("q") or "")[: billing.MAX_SEARCH_LENGTH]
    number = page_number(query.get("page"))
    page = await billing.list_payments(
        session,
        user.account_id,
        status=status,
        currency=currency,
        since=since,
        until=until,
        search=search or None,
        page=page_params(number),
    )
    filters = {
        "status": status or "",
        "currency": currency or "",
        "since": since.isoformat() if since else "",
        "until": until.isoformat() if until else "",
        "q": search,
    }
    return render(
        request,
        "payments_list.html",
        user=user,
        page=page,
        emails=await dashboard_service.customer_emails(session, user.account_id, [p.customer_id for p in page.items]),
        statuses=billing.PAYMENT_STATUSES,
        currencies=currencies,
        filters=filters,
        page_number=number,
        last_page=last_page(page.total),
    )


@router.get("/{payment_id}")
async def payment_detail(request: Request, payment_id: str, user: SignedInUser, session: Session) -> Response:
    try:
        story = await billing.payment_story(session, user.account_id, payment_id[:100])
    except NotFound:
        return not_found(request, user)
    return render(request, "payments_detail.html", user=user, story=story, payment=story.payment)
