"""Processor routes as checkout sessions name them: a route a session names can't be deleted."""

from __future__ import annotations

from sqlalchemy import ColumnElement, exists, func, or_, select, type_coerce
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.checkout.models import CheckoutSession
from checkstand.processors import routes


async def delete_processor_route(session: AsyncSession, account_id: str, route_id: str) -> None:
    """Delete a processor route no checkout session names (nor the account, as its default). Here rather than in
    :mod:`checkstand.processors.routes` because sessions are what name routes, and processors sit below checkout.
    The route row is locked first: a session storing the route locks it shared (:func:`routes.get_route`), so the
    two can't both succeed."""
    route = await routes.lock_route(session, account_id, route_id)
    checkout_id = await session.scalar(
        select(CheckoutSession.id)
        .where(
            CheckoutSession.account_id == account_id,
            or_(CheckoutSession.processor_route_id == route.id, _cascade_names(session, route.id)),
        )
        .limit(1)
    )
    named_by = None if checkout_id is None else f"the route of checkout session {checkout_id!r}"
    await routes.delete_route(session, account_id, route.id, named_by=named_by)


def _cascade_names(session: AsyncSession, route_id: str) -> ColumnElement[bool]:
    """Whether a session's ``cascade_routes`` (a JSON array of route ids and nulls) holds ``route_id``."""
    if session.get_bind().dialect.name == "postgresql":
        # jsonb's ``?`` is true for a string element of a top-level array.
        contains: ColumnElement[bool] = type_coerce(CheckoutSession.cascade_routes, JSONB).has_key(route_id)
        return contains
    elements = func.json_each(CheckoutSession.cascade_routes).table_valued("value")
    return exists(select(1).select_from(elements).where(elements.c.value == route_id))
