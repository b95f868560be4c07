"""Product families in the dashboard: the list (searched by name or description), one family's tiers (its
products by rank, lowest first), and its forms: create, edit its name and description, add a product at a rank,
remove one, delete the family.

Every change is the API's ``product-families/`` service call, with its refusals shown where they belong: a product
already in another family, a rank taken, a deleted product. Deleting a family sets its products free to join
another, as the API's ``DELETE`` does."""

from __future__ import annotations

from typing import Final

from fastapi import APIRouter, Request
from fastapi.responses import Response

from checkstand.api.http.unit_of_work import Session
from checkstand.catalog import service as catalog
from checkstand.catalog.models import ProductFamily
from checkstand.core.errors import Conflict, InvalidFields, NotFound
from checkstand.core.listing import ListParams
from checkstand.core.pagination import MAX_LIMIT, PageParams
from checkstand.dashboard import forms
from checkstand.dashboard.paging import last_page, page_number, page_params
from checkstand.dashboard.web import PREFIX, CheckedForm, SignedInUser, not_found, redirect, render

router = APIRouter(prefix=f"{PREFIX}/product-families", include_in_schema=False)

DONE: Final = {
    "created": "Product family created.",
    "saved": "Product family saved.",
    "added": "Product added to the family.",
    "removed": "Product removed from the family.",
    "deleted": "Product family deleted.",
}
FIELDS: Final = {"name": "name", "description": "description", "product_id": "product_id", "rank": "rank"}
# The database's INTEGER, as the API's schema bounds a rank.
MIN_RANK: Final = -(2**31)
MAX_RANK: Final = 2**31 - 1


@router.get("")
async def list_families(request: Request, user: SignedInUser, session: Session) -> Response:
    query = request.query_params
    search = (query.get("q") or "").strip()[: forms.MAX_SEARCH_LENGTH]
    number = page_number(query.get("page"))
    page = await catalog.list_families(
        session, user.account_id, ListParams(page=page_params(number), search=search or None)
    )
    return render(
        request,
        "families_list.html",
        user=user,
        page=page,
        filters={"q": search},
        notice=DONE.get(query.get("done") or ""),
        page_number=number,
        last_page=last_page(page.total),
    )


@router.get("/new")
async def new_family_form(request: Request, user: SignedInUser) -> Response:
    return _form_page(request, user, None, forms.Form(), status_code=200)


@router.post("/new")
async def create_family(request: Request, user: SignedInUser, form: CheckedForm, session: Session) -> Response:
    typed = forms.Form.of(form, ["name", "description"])
    name = typed.text("name", max_length=forms.MAX_NAME_LENGTH, required=forms.NO_NAME)
    description = typed.text("description", max_length=forms.MAX_DESCRIPTION_LENGTH)
    if typed.errors or name is None:
        return _form_page(request, user, None, typed, status_code=422)
    try:
        family = await catalog.create_family(session, user.account_id, name=name, description=description)
    except InvalidFields as refused:
        typed.place(refused.problems, FIELDS)
        return _form_page(request, user, None, typed, status_code=422)
    return redirect(f"{router.prefix}/{family.id}?done=created")


@router.get("/{family_id}")
async def family_detail(request: Request, family_id: str, user: SignedInUser, session: Session) -> Response:
    try:
        family = await catalog.get_family(session, user.account_id, family_id[: forms.MAX_ID_LENGTH])
    except NotFound:
        return not_found(request, user)
    notice = DONE.get(request.query_params.get("done") or "")
    return await _detail(request, user, session, family, forms.Form(), notice=notice, status_code=200)


@router.get("/{family_id}/edit")
async def edit_family_form(request: Request, family_id: str, user: SignedInUser, session: Session) -> Response:
    try:
        family = await catalog.get_family(session, user.account_id, family_id[: forms.MAX_ID_LENGTH])
    except NotFound:
        return not_found(request, user)
    values = {"name": family.name, "description": family.description or ""}
    return _form_page(request, user, family, forms.Form(values=values), status_code=200)


@router.post("/{family_id}/edit")
async def update_family(
    request: Request, family_id: str, user: SignedInUser, form: CheckedForm, session: Session
) -> Response:
    try:
        family = await catalog.get_family(session, user.account_id, family_id[: forms.MAX_ID_LENGTH])
    except NotFound:
        return not_found(request, user)
    typed = forms.Form.of(form, ["name", "description"])
    changes = {
        "name": typed.text("name", max_length=forms.MAX_NAME_LENGTH, required=forms.NO_NAME),
        "description": typed.text("description", max_length=forms.MAX_DESCRIPTION_LENGTH),
    }
    if typed.errors:
        return _form_page(request, user, family, typed, status_code=422)
    await catalog.update_family(session, user.account_id, family.id, changes)
    return redirect(f"{router.prefix}/{family.id}?done=saved")


@router.post("/{family_id}/products")
async def add_product(
    request: Request, family_id: str, user: SignedInUser, form: CheckedForm, session: Session
) -> Response:
    try:
        family = await catalog.get_family(session, user.account_id, family_id[: forms.MAX_ID_LENGTH])
    except NotFound:
        return not_found(request, user)
    typed = forms.Form.of(form, ["product_id", "rank"])
    product_id = typed.value("product_id")[: forms.MAX_ID_LENGTH]
    if not product_id:
        typed.errors["product_id"] = "Choose a product"
    rank = typed.whole_number("rank", low=MIN_RANK, high=MAX_RANK)
    if rank is None and "rank" not in typed.errors:
        typed.errors["rank"] = "Enter a rank: a higher rank is a higher tier"
    if typed.errors or rank is None:
        return await _detail(request, user, session, family, typed, status_code=422)
    try:
        await catalog.add_to_family(session, user.account_id, family.id, product_id, rank)
    except InvalidFields as refused:
        typed.place(refused.problems, FIELDS)
        return await _detail(request, user, session, family, typed, status_code=422)
    except Conflict as refused:
        typed.alerts.append(refused.detail)
        # Read again: the refused insert's savepoint rolled back what this request had loaded of the family.
        family = await catalog.get_family(session, user.account_id, family.id)
        return await _detail(request, user, session, family, typed, status_code=409)
    return redirect(f"{router.prefix}/{family.id}?done=added")


@router.post("/{family_id}/products/{product_id}/remove")
async def remove_product(
    request: Request, family_id: str, product_id: str, user: SignedInUser, form: CheckedForm, session: Session
) -> Response:
    try:
        family = await catalog.remove_from_family(
            session, user.account_id, family_id[: forms.MAX_ID_LENGTH], product_id[: forms.MAX_ID_LENGTH]
        )
    except NotFound:
        return not_found(request, user)
    return redirect(f"{router.prefix}/{family.id}?done=removed")


@router.post("/{family_id}/delete")
async def delete_family(
    request: Request, family_id: str, user: SignedInUser, form: CheckedForm, session: Session
) -> Response:
    try:
        await catalog.delete_family(session, user.account_id, family_id[: forms.MAX_ID_LENGTH])
    except NotFound:
        return not_found(request, user)
    return redirect(f"{router.prefix}?done=deleted")


async def _detail(
    request: Request,
    user: SignedInUser,
    session: Session,
    family: ProductFamily,
    form: forms.Form,
    *,
    notice: str | None = None,
    status_code: int,
) -> Response:
    members = sorted(family.members, key=lambda member: member.rank)
    products = await catalog.get_products(session, user.account_id, [member.product_id for member in members])
    # The products a tier may be added from: the newest live ones (the service refuses one already in a family).
    choices = await catalog.list_products(session, user.account_id, ListParams(page=PageParams(limit=MAX_LIMIT)))
    in_family = {member.product_id for member in members}
    if "rank" not in form.values:
        form.values["rank"] = str(members[-1].rank + 1 if members else 1)
    return render(
        request,
        "families_detail.html",
        user=user,
        status_code=status_code,
        family=family,
        tiers=[(member, products.get(member.product_id)) for member in members],
        product_choices=[product for product in choices.items if product.id not in in_family],
        form=form,
        notice=notice,
    )


def _form_page(
    request: Request, user: SignedInUser, family: ProductFamily | None, form: forms.Form, *, status_code: int
) -> Response:
    return render(
        request,
        "families_form.html",
        user=user,
        status_code=status_code,
        family=family,
        form=form,
        max_name=forms.MAX_NAME_LENGTH,
        max_description=forms.MAX_DESCRIPTION_LENGTH,
    )
