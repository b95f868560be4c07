"""Processor routes, and the rule that picks which processors a charge tries.

A route is an ordered list of the account's processors (:mod:`checkstand.processors.connections`), each with a
disposition. A charge uses the session's route, else the account's default route, else every connected processor in
the order they were connected (:func:`processors_for_charge`). A route can't be deleted while the account's default
or a checkout session names it (checkout checks the latter: it owns sessions). The check locks the route row
(``FOR UPDATE`` on PostgreSQL; SQLite runs one writer at a time), and whoever stores a reference locks the row
shared first (:func:`get_route`), so a delete and a new reference racing each other can't both succeed. Storing a
route likewise locks its processors shared, so none is deleted from under it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.accounts.models import Account
from checkstand.core import clock
from checkstand.core.errors import Conflict, FieldPath, FieldProblem, InvalidFields, NotFound
from checkstand.core.ids import new_id
from checkstand.core.lookup import locked, one_or_not_found
from checkstand.core.pagination import Page, PageParams, paginate
from checkstand.events.service import record_event, snapshot
from checkstand.processors.models import Processor, ProcessorRoute, ProcessorRouteEntry

CHARGE_AND_SETUP: Final = "charge_and_setup"
SETUP_ONLY: Final = "setup_only"
DISPOSITIONS: Final = (CHARGE_AND_SETUP, SETUP_ONLY)
MAX_ROUTE_PROCESSORS: Final = 10

# Why :func:`processors_for_charge` passes a processor over, as the attempt log records it.
SKIP_INACTIVE: Final = "inactive"
SKIP_UNAVAILABLE: Final = "unavailable"
SKIP_CURRENCY: Final = "currency_not_supported"


@dataclass(frozen=True)
class RouteStep:
    """One processor of a route as a client asks for it; no disposition means ``charge_and_setup``."""

    processor_id: str
    disposition: str | None = None


@dataclass(frozen=True)
class ProcessorChoice:
    """A processor a charge considers, in the order to try them. ``skip_reason`` is None for one to try, else why
    it is passed over (``inactive``, ``unavailable``, ``currency_not_supported``), for the attempt log. A
    ``setup_only`` choice may set up a payment method but must never be charged."""

    processor: Processor
    disposition: str
    skip_reason: str | None

    @property
    def usable(self) -> bool:
        return self.skip_reason is None


async def create_route(
    session: AsyncSession,
    account_id: str,
    *,
    name: str,
    processors: Sequence[RouteStep],
    description: str | None = None,
) -> ProcessorRoute:
    route = ProcessorRoute(id=new_id("proute"), account_id=account_id, name=name, description=description)
    route.entries = await _checked_entries(session, account_id, processors)
    session.add(route)
    await session.flush()
    await record_event(session, account_id=account_id, type="processor_route.created", obj=route)
    return route


async def get_route(session: AsyncSession, account_id: str, route_id: str, *, lock: bool = True) -> ProcessorRoute:
    """The account's route. By default its row is locked shared until the transaction ends, so a caller about to
    store a reference to it (a checkout session, the account default) can't lose a race with its deletion; a
    plain read passes ``lock=False``."""
    query = select(ProcessorRoute).where(ProcessorRoute.id == route_id, ProcessorRoute.account_id == account_id)
    if lock:
        query = query.with_for_update(read=True)
    return await one_or_not_found(session, query, "processor_route", route_id)


async def list_routes(session: AsyncSession, account_id: str, page: PageParams) -> Page[ProcessorRoute]:
    """The account's routes, newest first."""
    query = (
        select(ProcessorRoute)
        .where(ProcessorRoute.account_id == account_id)
        .order_by(ProcessorRoute.created_at.desc(), ProcessorRoute.id.desc())
    )
    return await paginate(session, query, page)


async def update_route(
    session: AsyncSession, account_id: str, route_id: str, changes: Mapping[str, Any]
) -> ProcessorRoute:
    """Change ``name``, ``description`` or ``processors`` (replaced as a whole, in the order given)."""
    route = await lock_route(session, account_id, route_id)
    entries = await _checked_entries(session, account_id, changes["processors"]) if "processors" in changes else None
    before = snapshot(route)
    if "name" in changes:
        route.name = changes["name"]
    if "description" in changes:
        route.description = changes["description"]
    if entries is not None:
        # The old steps go first: the new ones reuse their (route, position) keys.
        route.entries.clear()
        await session.flush()
        route.entries.extend(entries)
        # Only the steps' table changes, which wouldn't touch the route row's updated_at.
        route.updated_at = clock.now()
    await session.flush()
    await record_event(session, account_id=account_id, type="processor_route.updated", obj=route, before=before)
    return route


async def delete_route(session: AsyncSession, account_id: str, route_id: str, *, named_by: str | None = None) -> None:
    """Delete a route that is not the account's default. ``named_by`` is what else still names it, in words, as
    the caller found it under the route's lock (:func:`lock_route`): checkout sessions name routes, and this module
    sits below checkout, so checkout asks (``checkout.processor_routes.delete_processor_route``)."""
    route = await lock_route(session, account_id, route_id)
    default = await session.scalar(select(Account.default_processor_route_id).where(Account.id == account_id))
    reference = "the account's default route" if default == route.id else named_by
    if reference is not None:
        raise Conflict(
            f"Processor route {route.id!r} is in use as {reference}; it can't be deleted.", code="route_in_use"
        )
    await record_event(session, account_id=account_id, type="processor_route.deleted", obj=route)
    await session.delete(route)
    await session.flush()


async def set_default_route(session: AsyncSession, account_id: str, route_id: str | None) -> str | None:
    """Make ``route_id`` the account's default route (None clears it); returns the default now in force.

    The column lives on the account row, but what it may hold is this module's rule: a route of the same account,
    locked shared so it can't be deleted while it becomes the default."""
    account = await session.get(Account, account_id)
    if account is None:
        raise NotFound("account", account_id)
    if route_id is not None:
        try:
            await get_route(session, account_id, route_id)
        except NotFound:
            raise InvalidFields.one(
                ("default_processor_route_id",), f"no processor route {route_id!r} in this account", "not_found"
            ) from None
    account.default_processor_route_id = route_id
    await session.flush()
    return account.default_processor_route_id


async def lock_route(session: AsyncSession, account_id: str, route_id: str) -> ProcessorRoute:
    return await one_or_not_found(
        session,
        locked(select(ProcessorRoute).where(ProcessorRoute.id == route_id, ProcessorRoute.account_id == account_id)),
        "processor_route",
        route_id,
    )


async def _checked_entries(
    session: AsyncSession, account_id: str, steps: Sequence[RouteStep]
) -> list[ProcessorRouteEntry]:
    """The route's steps, once each is known to name a distinct, connected processor of the account. The
    processors are locked shared, so none can be deleted before this transaction stores its reference."""
    if not 0 < len(steps) <= MAX_ROUTE_PROCESSORS:
        raise InvalidFields.one(("processors",), f"a route has 1 to {MAX_ROUTE_PROCESSORS} processors")
    problems: list[FieldProblem] = []
    ids = {step.processor_id for step in steps}
    found = set(
        (
            await session.scalars(
                select(Processor.id)
                .where(Processor.account_id == account_id, Processor.id.in_(ids), Processor.deleted_at.is_(None))
                .with_for_update(read=True)
            )
        ).all()
    )
    seen: set[str] = set()
    for index, step in enumerate(steps):
        path: FieldPath = ("processors", index)
        if step.processor_id not in found:
            problems.append(
                FieldProblem(
                    (*path, "processor_id"), f"no processor {step.processor_id!r} in this account", "not_found"
                )
            )
        elif step.processor_id in seen:
            problems.append(FieldProblem((*path, "processor_id"), "the processor is already in the route"))
        if step.disposition is not None and step.disposition not in DISPOSITIONS:
            problems.append(FieldProblem((*path, "disposition"), "must be charge_and_setup or setup_only", "enum"))
        seen.add(step.processor_id)
    if problems:
        raise InvalidFields(problems)
    return [
        ProcessorRouteEntry(
            account_id=account_id,
            position=position,
            processor_id=step.processor_id,
            disposition=step.disposition or CHARGE_AND_SETUP,
        )
        for position, step in enumerate(steps)
    ]


# ---------------------------------------------------------------------------------------------------------------
# Choosing processors for a charge


async def processors_for_charge(
    session: AsyncSession, account_id: str, *, currency: str, route_id: str | None
) -> list[ProcessorChoice]:
    """The processors a charge in ``currency`` considers, in order: those of ``route_id`` (the session's route),
    else of the account's default route, else every connected processor in the order they were connected. Each
    comes with why it is skipped, if it is: inactive, switched unavailable, or not taking the currency. A route
    is never widened: when all its processors are skipped, none is left to try."""
    if route_id is None:
        route_id = await session.scalar(select(Account.default_processor_route_id).where(Account.id == account_id))
    steps: list[tuple[Processor, str]]
    if route_id is not None:
        route = await get_route(session, account_id, route_id, lock=False)
        ids = [entry.processor_id for entry in route.entries]
        by_id = {
            processor.id: processor
            for processor in await session.scalars(
                select(Processor).where(Processor.account_id == account_id, Processor.id.in_(ids))
            )
        }
        steps = [(by_id[entry.processor_id], entry.disposition) for entry in route.entries]
    else:
        connected = await session.scalars(
            select(Processor)
            .where(Processor.account_id == account_id, Processor.deleted_at.is_(None))
            .order_by(Processor.created_at, Processor.id)
        )
        steps = [(processor, CHARGE_AND_SETUP) for processor in connected]
    code = currency.lower()
    return [ProcessorChoice(processor, disposition, _skip_reason(processor, code)) for processor, disposition in steps]


def _skip_reason(processor: Processor, currency: str) -> str | None:
    if not processor.is_active:
        return SKIP_INACTIVE
    if not processor.is_available:
        return SKIP_UNAVAILABLE
    if currency not in processor.currencies:
        return SKIP_CURRENCY
    return None
