"""Webhook endpoints in the dashboard: list and create them, read an endpoint's delivery log (each delivery's
attempts), roll its signing secret and send an event to it again.

Every change is the call the API makes (``webhooks/endpoints.py``): the same URL check (a private address refused
unless the operator allows it), the same overlap after a roll, the same redelivery. A signing secret is shown in the
one answer that creates it, never again. Paid's endpoints are read-only here, as PaymentKit's API treats them."""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from fastapi import APIRouter, Request
from fastapi.responses import Response

from checkstand.api.http.unit_of_work import Session
from checkstand.core.crypto import SecretBox
from checkstand.core.errors import Conflict, InvalidFields, NotFound
from checkstand.core.listing import ListParams
from checkstand.dashboard.paging import last_page, page_number, page_params
from checkstand.dashboard.web import PREFIX, CheckedForm, SignedInUser, not_found, redirect, render
from checkstand.events.types import ALL, EVENT_TYPES
from checkstand.webhooks import endpoints as webhook_endpoints
from checkstand.webhooks import service as deliveries

router = APIRouter(prefix=f"{PREFIX}/webhook-endpoints", include_in_schema=False)

ACTIVITY: Final = {"active": True, "inactive": False}
MAX_FIELD_LENGTH: Final = 2048
MAX_ID_LENGTH: Final = 100


def _box(request: Request) -> SecretBox:
    box: SecretBox = request.app.state.secret_box
    return box


@router.get("")
async def list_endpoints(request: Request, user: SignedInUser, session: Session) -> Response:
    search = (request.query_params.get("q") or "")[:MAX_FIELD_LENGTH]
    activity = request.query_params.get("status") or ""
    number = page_number(request.query_params.get("page"))
    params = ListParams(
        page=page_params(number),
        filters={"is_active": ACTIVITY[activity]} if activity in ACTIVITY else {},
        search=search or None,
    )
    page = await webhook_endpoints.list_endpoints(session, user.account_id, params)
    return render(
        request,
        "webhooks_list.html",
        user=user,
        page=page,
        search=search,
        activity=activity if activity in ACTIVITY else "",
        page_number=number,
        last_page=last_page(page.total),
    )


@router.get("/new")
async def new_endpoint_form(request: Request, user: SignedInUser) -> Response:
    return _form(request, user, {"url": "", "description": ""}, [ALL], {}, status_code=200)


@router.post("/new")
async def create_endpoint(request: Request, user: SignedInUser, form: CheckedForm, session: Session) -> Response:
    values = {name: _text(form.get(name)) for name in ("url", "description")}
    events = [value for value in form.getlist("events") if isinstance(value, str)][: len(EVENT_TYPES) + 1]
    try:
        created = await webhook_endpoints.create_endpoint(
            session,
            user.account_id,
            url=values["url"].strip(),
            events=events,
            description=values["description"].strip()[:500] or None,
            box=_box(request),
            allow_private_urls=bool(request.app.state.settings.webhook_allow_private_urls),
        )
    except InvalidFields as refused:
        errors = {str(problem.path[0]): problem.msg for problem in refused.problems if problem.path}
        return _form(request, user, values, events, errors, status_code=422)
    return await _detail(request, user, session, created.endpoint.id, secret=created.secret, status_code=201)


@router.get("/{endpoint_id}")
async def endpoint_detail(request: Request, endpoint_id: str, user: SignedInUser, session: Session) -> Response:
    return await _detail(request, user, session, endpoint_id[:MAX_ID_LENGTH])


@router.post("/{endpoint_id}/roll-secret")
async def roll_secret(
    request: Request, endpoint_id: str, user: SignedInUser, form: CheckedForm, session: Session
) -> Response:
    overlap = timedelta(seconds=request.app.state.settings.webhook_secret_overlap_seconds)
    try:
        rolled = await webhook_endpoints.roll_secret(
            session, user.account_id, endpoint_id[:MAX_ID_LENGTH], _box(request), overlap=overlap
        )
    except NotFound:
        return not_found(request, user)
    except Conflict as refused:
        return await _detail(request, user, session, endpoint_id, alert=refused.detail, status_code=409)
    return await _detail(request, user, session, rolled.endpoint.id, secret=rolled.secret, overlap=overlap)


@router.post("/{endpoint_id}/redeliver")
async def redeliver(
    request: Request, endpoint_id: str, user: SignedInUser, form: CheckedForm, session: Session
) -> Response:
    endpoint_id = endpoint_id[:MAX_ID_LENGTH]
    event_id = _text(form.get("event_id"))[:MAX_ID_LENGTH]
    try:
        endpoint = await webhook_endpoints.get_endpoint(session, user.account_id, endpoint_id)
        if endpoint.is_protected:
            return await _detail(request, user, session, endpoint_id, alert=_PROTECTED, status_code=409)
        await webhook_endpoints.redeliver_event(session, user.account_id, event_id, endpoint_id)
    except NotFound:
        return not_found(request, user)
    except Conflict as refused:
        return await _detail(request, user, session, endpoint_id, alert=refused.detail, status_code=409)
    except InvalidFields as refused:
        alert = "; ".join(problem.msg for problem in refused.problems)
        return await _detail(request, user, session, endpoint_id, alert=alert, status_code=422)
    return redirect(f"{router.prefix}/{endpoint_id}?redelivered={event_id}")


_PROTECTED: Final = "This is one of Paid's webhooks: manage it through Paid's webhooks API."


async def _detail(
    request: Request,
    user: SignedInUser,
    session: Session,
    endpoint_id: str,
    *,
    secret: str | None = None,
    overlap: timedelta | None = None,
    alert: str | None = None,
    status_code: int = 200,
) -> Response:
    number = page_number(request.query_params.get("page"))
    try:
        endpoint = await webhook_endpoints.get_endpoint(session, user.account_id, endpoint_id)
        log = await deliveries.endpoint_log(session, user.account_id, endpoint.id, page_params(number))
    except NotFound:
        return not_found(request, user)
    return render(
        request,
        "webhooks_detail.html",
        user=user,
        status_code=status_code,
        endpoint=endpoint,
        log=log,
        secret=secret,
        overlap_hours=overlap.total_seconds() / 3600 if overlap is not None else None,
        alert=alert,
        redelivered=request.query_params.get("redelivered", "")[:MAX_ID_LENGTH],
        page_number=number,
        last_page=last_page(log.total),
    )


def _form(
    request: Request,
    user: SignedInUser,
    values: dict[str, str],
    events: list[str],
    errors: dict[str, str],
    *,
    status_code: int,
) -> Response:
    return render(
        request,
        "webhooks_new.html",
        user=user,
        status_code=status_code,
        values=values,
        chosen=set(events),
        errors=errors,
        all_events=ALL,
        event_types=EVENT_TYPES,
        private_allowed=bool(request.app.state.settings.webhook_allow_private_urls),
    )


def _text(value: object) -> str:
    return value[:MAX_FIELD_LENGTH] if isinstance(value, str) else ""
