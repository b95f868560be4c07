"""Products in the dashboard: the list (searched by name or description, by status, paginated), one product's
prices and family, and its forms: create, edit (name, description, default price, metadata), archive or make
active again, and delete.

Every change is the call the API's ``products/`` makes (``catalog/service.py``), with its refusals: a default price
must be an active price of the product, and a product with active prices can't be deleted. Deleting archives it for
good (kept for what refers to it, gone from the lists), as the API's ``DELETE`` does."""

from __future__ import annotations

from typing import Final

from fastapi import APIRouter, Request
from fastapi.responses import Response

from checkstand.api.http.unit_of_work import Session
from checkstand.catalog import service as catalog
from checkstand.catalog.models import Product
from checkstand.core.errors import Conflict, InvalidFields, NotFound
from checkstand.core.listing import ListParams
from checkstand.core.pagination import PageParams
from checkstand.dashboard import forms
from checkstand.dashboard.paging import last_page, page_number, page_params
from checkstand.dashboard.prices import billing, price_label
from checkstand.dashboard.web import PREFIX, CheckedForm, SignedInUser, not_found, redirect, render

router = APIRouter(prefix=f"{PREFIX}/products", include_in_schema=False)

STATUSES: Final = {"active": True, "archived": False}
DONE: Final = {
    "created": "Product created.",
    "saved": "Product saved.",
    "archived": "Product archived: its prices can't be sold until it is active again.",
    "activated": "Product active again.",
    "price_created": "Price created.",
    "deleted": "Product deleted.",
}
# Where a service's problem is shown on the product form.
FIELDS: Final = {
    "name": "name",
    "description": "description",
    "default_price_id": "default_price_id",
    "metadata": "metadata",
}
# The active prices a default price is chosen from.
MAX_PRICE_CHOICES: Final = 100


@router.get("")
async def list_products(request: Request, user: SignedInUser, session: Session) -> Response:
    query = request.query_params
    search = (query.get("q") or "").strip()[: forms.MAX_SEARCH_LENGTH]
    status = query.get("status") or ""
    status = status if status in STATUSES else ""
    number = page_number(query.get("page"))
    params = ListParams(
        page=page_params(number),
        filters={"is_active": STATUSES[status]} if status else {},
        search=search or None,
    )
    page = await catalog.list_products(session, user.account_id, params)
    return render(
        request,
        "products_list.html",
        user=user,
        page=page,
        price_counts=await catalog.count_prices(session, user.account_id, [p.id for p in page.items]),
        statuses=STATUSES,
        filters={"status": status, "q": search},
        notice=DONE.get(query.get("done") or ""),
        page_number=number,
        last_page=last_page(page.total),
    )


@router.get("/new")
async def new_product_form(request: Request, user: SignedInUser) -> Response:
    return _form_page(request, user, None, forms.Form(), [], status_code=200)


@router.post("/new")
async def create_product(request: Request, user: SignedInUser, form: CheckedForm, session: Session) -> Response:
    typed = forms.Form.of(form, ["name", "description", *forms.metadata_names()])
    name = typed.text("name", max_length=forms.MAX_NAME_LENGTH, required=forms.NO_NAME)
    description = typed.text("description", max_length=forms.MAX_DESCRIPTION_LENGTH)
    metadata = typed.metadata({})
    if typed.errors or name is None:
        return _form_page(request, user, None, typed, [], status_code=422)
    try:
        product = await catalog.create_product(
            session, user.account_id, name=name, description=description, metadata=metadata
        )
    except InvalidFields as refused:
        typed.place(refused.problems, FIELDS)
        return _form_page(request, user, None, typed, [], status_code=422)
    return redirect(f"{router.prefix}/{product.id}?done=created")


@router.get("/{product_id}")
async def product_detail(request: Request, product_id: str, user: SignedInUser, session: Session) -> Response:
    notice = DONE.get(request.query_params.get("done") or "")
    return await _detail(request, user, session, product_id, notice=notice)


@router.get("/{product_id}/edit")
async def edit_product_form(request: Request, product_id: str, user: SignedInUser, session: Session) -> Response:
    try:
        product = await catalog.get_product(session, user.account_id, product_id[: forms.MAX_ID_LENGTH])
    except NotFound:
        return not_found(request, user)
    values = {
        "name": product.name,
        "description": product.description or "",
        "default_price_id": product.default_price_id or "",
        **forms.metadata_values(product.product_metadata),
    }
    choices = await _price_choices(session, product)
    return _form_page(request, user, product, forms.Form(values=values), choices, status_code=200)


@router.post("/{product_id}/edit")
async def update_product(
    request: Request, product_id: str, user: SignedInUser, form: CheckedForm, session: Session
) -> Response:
    try:
        product = await catalog.get_product(session, user.account_id, product_id[: forms.MAX_ID_LENGTH])
    except NotFound:
        return not_found(request, user)
    typed = forms.Form.of(form, ["name", "description", "default_price_id", *forms.metadata_names()])
    changes = {
        "name": typed.text("name", max_length=forms.MAX_NAME_LENGTH, required=forms.NO_NAME),
        "description": typed.text("description", max_length=forms.MAX_DESCRIPTION_LENGTH),
        "default_price_id": typed.value("default_price_id")[: forms.MAX_ID_LENGTH] or None,
        "metadata": typed.metadata(product.product_metadata),
    }
    choices = await _price_choices(session, product)
    if typed.errors:
        return _form_page(request, user, product, typed, choices, status_code=422)
    try:
        await catalog.update_product(session, user.account_id, product.id, changes)
    except InvalidFields as refused:
        typed.place(refused.problems, FIELDS)
        return _form_page(request, user, product, typed, choices, status_code=422)
    except Conflict as refused:
        typed.alerts.append(refused.detail)
        return _form_page(request, user, product, typed, choices, status_code=409)
    return redirect(f"{router.prefix}/{product.id}?done=saved")


@router.post("/{product_id}/status")
async def set_status(
    request: Request, product_id: str, user: SignedInUser, form: CheckedForm, session: Session
) -> Response:
    """Archive (no new checkout may sell its prices) or make active again: the API's ``is_active``."""
    action = form.get("action")
    if action not in ("archive", "activate"):
        return await _detail(request, user, session, product_id, alert="Choose an action.", status_code=422)
    try:
        await catalog.update_product(
            session, user.account_id, product_id[: forms.MAX_ID_LENGTH], {"is_active": action == "activate"}
        )
    except NotFound:
        return not_found(request, user)
    except Conflict as refused:
        return await _detail(request, user, session, product_id, alert=refused.detail, status_code=409)
    return redirect(f"{router.prefix}/{product_id}?done={'activated' if action == 'activate' else 'archived'}")


@router.post("/{product_id}/delete")
async def delete_product(
    request: Request, product_id: str, user: SignedInUser, form: CheckedForm, session: Session
) -> Response:
    try:
        await catalog.delete_product(session, user.account_id, product_id[: forms.MAX_ID_LENGTH])
    except NotFound:
        return not_found(request, user)
    except Conflict as refused:
        return await _detail(request, user, session, product_id, alert=refused.detail, status_code=409)
    return redirect(f"{router.prefix}?done=deleted")


async def _detail(
    request: Request,
    user: SignedInUser,
    session: Session,
    product_id: str,
    *,
    notice: str | None = None,
    alert: str | None = None,
    status_code: int = 200,
) -> Response:
    number = page_number(request.query_params.get("page"))
    try:
        product = await catalog.get_product(session, user.account_id, product_id[: forms.MAX_ID_LENGTH])
        prices = await catalog.list_product_prices(
            session, user.account_id, product.id, ListParams(page=page_params(number))
        )
    except NotFound:
        return not_found(request, user)
    family = await catalog.family_of(session, user.account_id, product.id)
    return render(
        request,
        "products_detail.html",
        user=user,
        status_code=status_code,
        product=product,
        prices=prices,
        billings={price.id: billing(price) for price in prices.items},
        family=family,
        rank=next((m.rank for m in family.members if m.product_id == product.id), None) if family else None,
        notice=notice,
        alert=alert,
        page_number=number,
        last_page=last_page(prices.total),
    )


async def _price_choices(session: Session, product: Product) -> list[tuple[str, str]]:
    """The product's active prices, the ones a default price may be."""
    page = await catalog.list_product_prices(
        session,
        product.account_id,
        product.id,
        ListParams(page=PageParams(limit=MAX_PRICE_CHOICES), filters={"is_active": True}),
    )
    return [(price.id, price_label(price)) for price in page.items]


def _form_page(
    request: Request,
    user: SignedInUser,
    product: Product | None,
    form: forms.Form,
    price_choices: list[tuple[str, str]],
    *,
    status_code: int,
) -> Response:
    return render(
        request,
        "products_form.html",
        user=user,
        status_code=status_code,
        product=product,
        form=form,
        price_choices=price_choices,
        metadata_rows=range(form.metadata_row_count()),
        max_name=forms.MAX_NAME_LENGTH,
        max_description=forms.MAX_DESCRIPTION_LENGTH,
    )
