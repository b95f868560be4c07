"""Subscriptions in the dashboard: the list (by status; searched by subscription id, customer id or email), one
subscription's items, periods, invoices and payments, and its cancel buttons.

Cancelling goes through the service calls the API's ``cancel`` and ``cancel_at_period_end`` make: the same rules
(a contract term still running, an already canceled subscription), their refusal shown on the page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from checkstand.api.http.unit_of_work import Session
from checkstand.core.errors import CheckstandError, NotFound
from checkstand.dashboard import billing
from checkstand.dashboard import service as dashboard_service
from checkstand.dashboard.paging import last_page, page_number, page_params
from checkstand.dashboard.web import PREFIX, CheckedForm, SignedInUser, not_found, redirect, render
from checkstand.subscriptions import service as subscriptions
from checkstand.subscriptions.models import CANCELED, STATUSES

router = APIRouter(prefix=f"{PREFIX}/subscriptions", include_in_schema=False)

# What each confirmation button asks the service, and what the page says once it is done.
DONE = {
    "cancel": "Subscription canceled.",
    "cancel_at_period_end": "It will end when the current period ends.",
    "keep": "It will renew at the end of the current period.",
}


@router.get("")
async def list_subscriptions(request: Request, user: SignedInUser, session: Session) -> Response:
    query = request.query_params
    status = query.get("status") if query.get("status") in STATUSES else None
    search = (query.get("q") or "")[: billing.MAX_SEARCH_LENGTH]
    number = page_number(query.get("page"))
    page = await billing.list_subscriptions(
        session, user.account_id, status=status, search=search or None, page=page_params(number)
    )
    return render(
        request,
        "subscriptions_list.html",
        user=user,
        page=page,
        emails=await dashboard_service.customer_emails(session, user.account_id, [s.customer_id for s in page.items]),
        statuses=STATUSES,
        filters={"status": status or "", "q": search},
        page_number=number,
        last_page=last_page(page.total),
    )


@router.get("/{subscription_id}")
async def subscription_detail(request: Request, subscription_id: str, user: SignedInUser, session: Session) -> Response:
    done = DONE.get(request.query_params.get("done") or "")
    return await _detail(request, subscription_id, user, session, notice=done, refusal=None, status_code=200)


@router.post("/{subscription_id}/cancel")
async def cancel(
    request: Request, subscription_id: str, user: SignedInUser, form: CheckedForm, session: Session
) -> Response:
    action = form.get("action")
    try:
        if action == "cancel":
            await subscriptions.cancel(session, user.account_id, subscription_id[:100])
        elif action in ("cancel_at_period_end", "keep"):
            value = action == "cancel_at_period_end"
            await subscriptions.set_cancel_at_period_end(session, user.account_id, subscription_id[:100], value)
        else:
            return await _detail(
                request, subscription_id, user, session, notice=None, refusal="Choose an action.", status_code=422
            )
    except NotFound:
        return not_found(request, user)
    except CheckstandError as refused:
        return await _detail(
            request, subscription_id, user, session, notice=None, refusal=refused.detail, status_code=409
        )
    return redirect(f"{router.prefix}/{subscription_id}?done={action}")


async def _detail(
    request: Request,
    subscription_id: str,
    user: SignedInUser,
    session: Session,
    *,
    notice: str | None,
    refusal: str | None,
    status_code: int,
) -> Response:
    try:
        story = await billing.subscription_story(session, user.account_id, subscription_id[:100])
    except NotFound:
        return not_found(request, user)
    return render(
        request,
        "subscriptions_detail.html",
        user=user,
        status_code=status_code,
        story=story,
        subscription=story.subscription,
        canceled=story.subscription.status == CANCELED,
        notice=notice,
        refusal=refusal,
    )
