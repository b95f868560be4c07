"""The event log in the dashboard: every event of the account, by type or by the object it is about, and one
event's payload with its webhook deliveries. Read-only: redelivery is the endpoint page's."""

from __future__ import annotations

import json
from typing import Final

from fastapi import APIRouter, Request
from fastapi.responses import Response

from checkstand.api.http.unit_of_work import Session
from checkstand.core.errors import NotFound
from checkstand.core.listing import ListParams
from checkstand.dashboard.paging import last_page, page_number, page_params
from checkstand.dashboard.web import PREFIX, SignedInUser, not_found, render
from checkstand.events import service as events
from checkstand.events.types import EVENT_TYPES
from checkstand.webhooks import service as deliveries

router = APIRouter(prefix=f"{PREFIX}/events", include_in_schema=False)

MAX_ID_LENGTH: Final = 64


@router.get("")
async def list_events(request: Request, user: SignedInUser, session: Session) -> Response:
    event_type = request.query_params.get("type") or ""
    event_type = event_type if event_type in EVENT_TYPES else ""
    event_id = (request.query_params.get("id") or "").strip()[:MAX_ID_LENGTH]
    aggregate_id = (request.query_params.get("object") or "").strip()[:MAX_ID_LENGTH]
    number = page_number(request.query_params.get("page"))
    page = await events.list_events(
        session,
        user.account_id,
        ListParams(page=page_params(number)),
        event_id=event_id or None,
        aggregate_id=aggregate_id or None,
        event_type=event_type or None,
    )
    return render(
        request,
        "events_list.html",
        user=user,
        page=page,
        event_type=event_type,
        event_types=EVENT_TYPES,
        event_id=event_id,
        aggregate_id=aggregate_id,
        page_number=number,
        last_page=last_page(page.total),
    )


@router.get("/{event_id}")
async def event_detail(request: Request, event_id: str, user: SignedInUser, session: Session) -> Response:
    try:
        event = await events.get_event(session, user.account_id, event_id[:MAX_ID_LENGTH])
    except NotFound:
        return not_found(request, user)
    sent = await deliveries.event_deliveries(session, user.account_id, event.id)
    return render(
        request,
        "events_detail.html",
        user=user,
        event=event,
        payload=_pretty(event.data),
        previous=_pretty(event.previous_data) if event.previous_data else None,
        deliveries=sent,
    )


def _pretty(document: object) -> str:
    """Indented JSON for reading; the template escapes it like any text."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False, default=str)
