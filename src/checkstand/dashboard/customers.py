"""Customers in the dashboard: the list (searched by name, email or business name, as the API's ``search`` does)
and one customer's checkout sessions, payments, subscriptions and saved payment methods."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from checkstand.api.http.unit_of_work import Session
from checkstand.core.errors import NotFound
from checkstand.core.listing import ListParams
from checkstand.customers import service as customers
from checkstand.dashboard import billing
from checkstand.dashboard.paging import last_page, page_number, page_params
from checkstand.dashboard.web import PREFIX, SignedInUser, not_found, render

router = APIRouter(prefix=f"{PREFIX}/customers", include_in_schema=False)


@router.get("")
async def list_customers(request: Request, user: SignedInUser, session: Session) -> Response:
    search = (request.query_params.get("q") or "").strip()[: billing.MAX_SEARCH_LENGTH]
    number = page_number(request.query_params.get("page"))
    page = await customers.list_customers(
        session, user.account_id, ListParams(page=page_params(number), search=search or None)
    )
    return render(
        request,
        "customers_list.html",
        user=user,
        page=page,
        filters={"q": search},
        page_number=number,
        last_page=last_page(page.total),
    )


@router.get("/{customer_id}")
async def customer_detail(request: Request, customer_id: str, user: SignedInUser, session: Session) -> Response:
    try:
        story = await billing.customer_story(session, user.account_id, customer_id[:100])
    except NotFound:
        return not_found(request, user)
    return render(request, "customers_detail.html", user=user, story=story, customer=story.customer)
