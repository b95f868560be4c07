"""Processors and processor routes in the dashboard: list, read, connect, change and delete them as the API does.

Every change is the API's service call (:mod:`checkstand.processors.connections`, :mod:`checkstand.processors.routes`,
deleting a route :mod:`checkstand.checkout.processor_routes`), with its messages next to the fields they name. A
Stripe connection's secret key and webhook secret are write-only, as on the API: the form never holds them, the
page shows only whether one is set and the secret key's last four characters, and a field left empty keeps the
secret in place."""

from __future__ import annotations

import re
from typing import Any, Final

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from checkstand.api.http.unit_of_work import Session
from checkstand.checkout import processor_routes as checkout_routes
from checkstand.core.crypto import SecretBox
from checkstand.core.errors import Conflict, FieldProblem, InvalidFields, NotFound
from checkstand.core.listing import ListParams
from checkstand.core.pagination import PageParams
from checkstand.dashboard.forms import MAX_DESCRIPTION_LENGTH, MAX_ID_LENGTH, text, too_long
from checkstand.dashboard.paging import last_page, page_number, page_params
from checkstand.dashboard.web import PREFIX, CheckedForm, SignedInUser, not_found, redirect, render
from checkstand.processors import connections, routes
from checkstand.processors.models import Processor, ProcessorRoute

router = APIRouter(prefix=f"{PREFIX}/processors", include_in_schema=False)
ROUTES: Final = f"{router.prefix}/routes"

MAX_SEARCH_LENGTH: Final = 100
# The API's limits on what the service leaves to the schema (the columns' lengths).
MAX_NAME_LENGTH: Final = 100
MAX_ROUTE_NAME_LENGTH: Final = 200
MAX_SECRET_LENGTH: Final = 256
# Blank step rows offered beside a route's own, up to the most a route may have.
SPARE_STEP_ROWS: Final = 2
MIN_STEP_ROWS: Final = 3
REQUIRED: Final = "Field required"
_CURRENCY_SEPARATORS: Final = re.compile(r"[\s,]+")
_PROCESSOR_FIELDS: Final = (
    "name",
    "type",
    "currencies",
    "secret_key",
    "webhook_secret",
    "api_base",
    "publishable_key",
)
_SECRETS: Final = ("secret_key", "webhook_secret")


def _box(request: Request) -> SecretBox:
    box: SecretBox = request.app.state.secret_box
    return box


def _allow_private(request: Request) -> bool:
    return bool(request.app.state.settings.processor_allow_private_urls)


# --- Processors -----------------------------------------------------------------------------------------------------


@router.get("")
async def list_processors(request: Request, user: SignedInUser, session: Session) -> Response:
    search = (request.query_params.get("q") or "").strip()[:MAX_SEARCH_LENGTH]
    kind = request.query_params.get("type") or ""
    kind = kind if kind in connections.PROCESSOR_TYPES else ""
    number = page_number(request.query_params.get("page"))
    params = ListParams(page=page_params(number), filters={"type": kind} if kind else {}, search=search or None)
    page = await connections.list_processors(session, user.account_id, params)
    return render(
        request,
        "processors_list.html",
        user=user,
        page=page,
        types=connections.PROCESSOR_TYPES,
        filters={"type": kind, "q": search},
        page_number=number,
        last_page=last_page(page.total),
    )


@router.get("/new")
async def new_processor_form(request: Request, user: SignedInUser) -> Response:
    values = {name: "" for name in _PROCESSOR_FIELDS}
    values |= {"type": connections.SIMULATOR, "is_active": "on", "is_available": "on"}
    return _processor_form(request, user, values, {}, status_code=200)


@router.post("/new")
async def create_processor(request: Request, user: SignedInUser, form: CheckedForm, session: Session) -> Response:
    values = {name: text(form.get(name)).strip() for name in _PROCESSOR_FIELDS}
    active, available = form.get("is_active") == "on", form.get("is_available") == "on"
    errors = _form_problems(values)
    fields: dict[str, Any] = {
        "type": values["type"],
        "is_active": active,
        **{name: values[name] for name in connections.STRIPE_ONLY_FIELDS if values[name]},
    }
    if values["currencies"]:
        fields["currencies"] = _currencies(values["currencies"])
    if values["type"] == connections.SIMULATOR:
        fields["is_available"] = available
    if not errors:
        try:
            created = await connections.create_processor(
                session,
                user.account_id,
                _box(request),
                name=values["name"],
                allow_private_urls=_allow_private(request),
                **fields,
            )
        except InvalidFields as refused:
            errors = _placed(refused.problems, fields.get("currencies", []))
        else:
            return redirect(f"{router.prefix}/{created.id}?created=1")
    values |= {"is_active": "on" if active else "", "is_available": "on" if available else ""}
    return _processor_form(request, user, values, errors, status_code=422)


# --- Routes (before ``/{processor_id}``, which would take ``routes`` for an id) -------------------------------------


@router.get("/routes")
async def list_routes(request: Request, user: SignedInUser, session: Session) -> Response:
    number = page_number(request.query_params.get("page"))
    page = await routes.list_routes(session, user.account_id, page_params(number))
    names = await _processor_names(session, user.account_id)
    return render(
        request,
        "processor_routes_list.html",
        user=user,
        page=page,
        names=names,
        filters={},
        page_number=number,
        last_page=last_page(page.total),
    )


@router.get("/routes/new")
async def new_route_form(request: Request, user: SignedInUser, session: Session) -> Response:
    return await _route_page(request, user, session, None, _RouteForm(), status_code=200)


@router.post("/routes/new")
async def create_route(request: Request, user: SignedInUser, form: CheckedForm, session: Session) -> Response:
    typed = _RouteForm.of(form)
    if not typed.errors:
        try:
            created = await routes.create_route(
                session, user.account_id, name=typed.name, description=typed.description, processors=typed.steps
            )
        except InvalidFields as refused:
            typed.place(refused.problems)
        else:
            return redirect(f"{ROUTES}/{created.id}?created=1")
    return await _route_page(request, user, session, None, typed, status_code=422)


@router.get("/routes/{route_id}")
async def route_detail(request: Request, route_id: str, user: SignedInUser, session: Session) -> Response:
    try:
        route = await routes.get_route(session, user.account_id, route_id[:MAX_ID_LENGTH], lock=False)
    except NotFound:
        return not_found(request, user)
    return await _route_page(request, user, session, route, _RouteForm.of_route(route), status_code=200)


@router.post("/routes/{route_id}")
async def update_route(
    request: Request, route_id: str, user: SignedInUser, form: CheckedForm, session: Session
) -> Response:
    route_id = route_id[:MAX_ID_LENGTH]
    typed = _RouteForm.of(form)
    try:
        route = await routes.get_route(session, user.account_id, route_id, lock=False)
        if not typed.errors:
            changes = {"name": typed.name, "description": typed.description, "processors": typed.steps}
            await routes.update_route(session, user.account_id, route_id, changes)
            return redirect(f"{ROUTES}/{route_id}?updated=1")
    except NotFound:
        return not_found(request, user)
    except InvalidFields as refused:
        typed.place(refused.problems)
    return await _route_page(request, user, session, route, typed, status_code=422)


@router.post("/routes/{route_id}/delete")
async def delete_route(
    request: Request, route_id: str, user: SignedInUser, form: CheckedForm, session: Session
) -> Response:
    route_id = route_id[:MAX_ID_LENGTH]
    try:
        await checkout_routes.delete_processor_route(session, user.account_id, route_id)
    except NotFound:
        return not_found(request, user)
    except Conflict as refused:
        route = await routes.get_route(session, user.account_id, route_id, lock=False)
        form_now = _RouteForm.of_route(route)
        return await _route_page(request, user, session, route, form_now, alert=refused.detail, status_code=409)
    return redirect(f"{ROUTES}?deleted=1")


# --- One processor --------------------------------------------------------------------------------------------------


@router.get("/{processor_id}")
async def processor_detail(request: Request, processor_id: str, user: SignedInUser, session: Session) -> Response:
    try:
        processor = await connections.get_processor(session, user.account_id, processor_id[:MAX_ID_LENGTH])
    except NotFound:
        return not_found(request, user)
    return _detail(request, user, processor, _values_of(processor), {})


@router.post("/{processor_id}")
async def update_processor(
    request: Request, processor_id: str, user: SignedInUser, form: CheckedForm, session: Session
) -> Response:
    try:
        processor = await connections.get_processor(session, user.account_id, processor_id[:MAX_ID_LENGTH])
    except NotFound:
        return not_found(request, user)
    values = {name: text(form.get(name)).strip() for name in _PROCESSOR_FIELDS} | {"type": processor.type}
    errors = _form_problems(values)
    changes: dict[str, Any] = {
        "name": values["name"],
        "is_active": form.get("is_active") == "on",
        "currencies": _currencies(values["currencies"]),
    }
    if processor.type == connections.SIMULATOR:
        changes["is_available"] = form.get("is_available") == "on"
        # A simulator has no Stripe setting: one typed in is sent, for the service to refuse by name.
        changes |= {name: values[name] for name in connections.STRIPE_ONLY_FIELDS if values[name]}
    else:
        # A secret left empty stays as it is; the other two are shown in the form, so empty removes them.
        changes |= {name: values[name] for name in _SECRETS if values[name]}
        changes |= {name: values[name] or None for name in ("api_base", "publishable_key")}
        if values["api_base"] == (processor.api_base or ""):
            del changes["api_base"]  # unchanged: not re-checked against today's operator setting
    if not errors:
        try:
            await connections.update_processor(
                session,
                user.account_id,
                processor.id,
                changes,
                _box(request),
                allow_private_urls=_allow_private(request),
            )
        except InvalidFields as refused:
            errors = _placed(refused.problems, changes["currencies"])
        else:
            return redirect(f"{router.prefix}/{processor.id}?updated=1")
    values |= {
        "is_active": "on" if changes["is_active"] else "",
        "is_available": "on" if form.get("is_available") == "on" else "",
    }
    return _detail(request, user, processor, values, errors, status_code=422)


@router.post("/{processor_id}/delete")
async def delete_processor(
    request: Request, processor_id: str, user: SignedInUser, form: CheckedForm, session: Session
) -> Response:
    processor_id = processor_id[:MAX_ID_LENGTH]
    try:
        await connections.delete_processor(session, user.account_id, processor_id)
    except NotFound:
        return not_found(request, user)
    except Conflict as refused:
        processor = await connections.get_processor(session, user.account_id, processor_id)
        return _detail(request, user, processor, _values_of(processor), {}, alert=refused.detail, status_code=409)
    return redirect(f"{router.prefix}?deleted=1")


# --- Pieces ---------------------------------------------------------------------------------------------------------


def _form_problems(values: dict[str, str]) -> dict[str, str]:
    """What the API's schema refuses before its service sees it: a name's and a secret's lengths."""
    errors: dict[str, str] = {}
    if not values["name"]:
        errors["name"] = REQUIRED
    elif len(values["name"]) > MAX_NAME_LENGTH:
        errors["name"] = too_long(MAX_NAME_LENGTH)
    for name in (*_SECRETS, "publishable_key"):
        if len(values[name]) > MAX_SECRET_LENGTH:
            errors[name] = too_long(MAX_SECRET_LENGTH)
    return errors


def _currencies(text: str) -> list[str]:
    return [code for code in _CURRENCY_SEPARATORS.split(text) if code][: connections.MAX_CURRENCIES + 1]


def _placed(problems: list[FieldProblem], currencies: list[str]) -> dict[str, str]:
    """Each problem at its field; a currency's (``currencies.1``) at the one currencies field, naming the code."""
    errors: dict[str, str] = {}
    for problem in problems:
        name = str(problem.path[0]) if problem.path else "name"
        message = problem.msg
        if name == "currencies" and len(problem.path) == 2 and isinstance(problem.path[1], int):
            message = f"{currencies[problem.path[1]]!r}: {message}"
        errors.setdefault(name, message)
    return errors


def _values_of(processor: Processor) -> dict[str, str]:
    return {
        "name": processor.name,
        "type": processor.type,
        "currencies": ", ".join(processor.currencies),
        "secret_key": "",
        "webhook_secret": "",
        "api_base": processor.api_base or "",
        "publishable_key": processor.publishable_key or "",
        "is_active": "on" if processor.is_active else "",
        "is_available": "on" if processor.is_available else "",
    }


def _processor_form(
    request: Request,
    user: SignedInUser,
    values: dict[str, str],
    errors: dict[str, str],
    *,
    status_code: int,
) -> Response:
    for secret in _SECRETS:  # a secret is never written back into a page
        values[secret] = ""
    return render(
        request,
        "processors_new.html",
        user=user,
        status_code=status_code,
        values=values,
        errors=errors,
        types=connections.PROCESSOR_TYPES,
    )


def _detail(
    request: Request,
    user: SignedInUser,
    processor: Processor,
    values: dict[str, str],
    errors: dict[str, str],
    *,
    alert: str | None = None,
    status_code: int = 200,
) -> Response:
    for secret in _SECRETS:  # a secret is never written back into a page
        values[secret] = ""
    return render(
        request,
        "processors_detail.html",
        user=user,
        status_code=status_code,
        processor=processor,
        values=values,
        errors=errors,
        alert=alert,
        notice=next((word for word in ("created", "updated") if request.query_params.get(word) == "1"), None),
    )


async def _processor_names(session: Session, account_id: str) -> dict[str, str]:
    """The account's connected processors' names by id, for the route forms' choices."""
    page = await connections.list_processors(
        session, account_id, ListParams(page=PageParams(limit=100), sort_by="name", descending=False)
    )
    return {processor.id: processor.name for processor in page.items}


class _RouteForm:
    """A route's form as typed: its name, description and step rows, and the problems found, by field name."""

    def __init__(self) -> None:
        self.name = ""
        self.description = ""
        self.rows: list[tuple[str, str]] = []
        self.errors: dict[str, str] = {}
        self.alerts: list[str] = []
        # The form row each step came from: a service problem names the step's index in the list sent.
        self.step_rows: list[int] = []

    @classmethod
    def of(cls, form: FormData) -> _RouteForm:
        typed = cls()
        typed.name = text(form.get("name")).strip()
        typed.description = text(form.get("description")).strip()
        if not typed.name:
            typed.errors["name"] = REQUIRED
        elif len(typed.name) > MAX_ROUTE_NAME_LENGTH:
            typed.errors["name"] = too_long(MAX_ROUTE_NAME_LENGTH)
        if len(typed.description) > MAX_DESCRIPTION_LENGTH:
            typed.errors["description"] = too_long(MAX_DESCRIPTION_LENGTH)
        for row in range(routes.MAX_ROUTE_PROCESSORS):
            processor_id = text(form.get(f"processor_id.{row}"))[:MAX_ID_LENGTH]
            disposition = text(form.get(f"disposition.{row}"))[:MAX_ID_LENGTH] or routes.CHARGE_AND_SETUP
            typed.rows.append((processor_id, disposition))
            if processor_id:
                typed.step_rows.append(row)
        while len(typed.rows) > MIN_STEP_ROWS and not typed.rows[-1][0]:
            typed.rows.pop()
        return typed

    @classmethod
    def of_route(cls, route: ProcessorRoute) -> _RouteForm:
        typed = cls()
        typed.name, typed.description = route.name, route.description or ""
        typed.rows = [(entry.processor_id, entry.disposition) for entry in route.entries]
        return typed

    @property
    def steps(self) -> list[routes.RouteStep]:
        return [routes.RouteStep(*self.rows[row]) for row in self.step_rows]

    def row_count(self) -> int:
        return min(routes.MAX_ROUTE_PROCESSORS, max(MIN_STEP_ROWS, len(self.rows) + SPARE_STEP_ROWS))

    def row(self, index: int) -> tuple[str, str]:
        return self.rows[index] if index < len(self.rows) else ("", routes.CHARGE_AND_SETUP)

    def place(self, problems: list[FieldProblem]) -> None:
        for problem in problems:
            path = problem.path
            if (
                len(path) == 3
                and path[0] == "processors"
                and isinstance(path[1], int)
                and path[1] < len(self.step_rows)
            ):
                self.errors.setdefault(f"{path[2]}.{self.step_rows[path[1]]}", problem.msg)
            elif path and str(path[0]) in ("name", "description", "processors"):
                self.errors.setdefault(str(path[0]), problem.msg)
            else:
                self.alerts.append(problem.msg)


async def _route_page(
    request: Request,
    user: SignedInUser,
    session: Session,
    route: ProcessorRoute | None,
    form: _RouteForm,
    *,
    alert: str | None = None,
    status_code: int,
) -> Response:
    return render(
        request,
        "processor_routes_form.html",
        user=user,
        status_code=status_code,
        route=route,
        form=form,
        names=await _processor_names(session, user.account_id),
        dispositions=routes.DISPOSITIONS,
        alert=alert,
        notice=next((word for word in ("created", "updated") if request.query_params.get(word) == "1"), None),
    )
