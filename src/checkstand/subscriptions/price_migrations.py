"""Bulk price migration (the SDK's ``bulk_migrate_prices``): a product's default price moves to another of its
prices and, when asked, the subscriptions holding the old default move to the new one at their next renewal.

Each migration stands alone: a refused one (an unknown or archived target, another product's price, another
currency, billing interval or contract term than the old default's, subscriptions on a metered price) is reported
beside the others and changes nothing, never a failed request. The move is marked on the items held when the
merchant asks (``SubscriptionItem.migrate_to_price_id``), so a renewal already made keeps the old price and a
subscription sold the old price afterwards keeps it too (as Stripe leaves a price's existing sales alone: the old
price still sells until archived). The renewal bills the new price and moves the item
(:func:`checkstand.subscriptions.plan_changes.apply_renewal_plan`); the preview of the next renewal shows it
already. A plan change that gives the item another price before then cancels its move.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.catalog import service as catalog
from checkstand.catalog.models import METERED, Price
from checkstand.catalog.pricing import amount_for
from checkstand.core.errors import CheckstandError, InvalidFields, NotFound
from checkstand.subscriptions.models import CANCELED, Subscription, SubscriptionItem
from checkstand.subscriptions.proration import PlanLine


@dataclass(frozen=True)
class PriceMigration:
    """The SDK's ``PriceMigrationItem``."""

    product_id: str
    target_price_id: str
    migrate_subscriptions: bool = False


@dataclass(frozen=True)
class Migrated:
    """The SDK's ``MigrationSuccess``: ``subscriptions_migrated`` counts the subscriptions that move at their next
    renewal."""

    product_id: str
    old_default_price_id: str | None
    new_default_price_id: str
    subscriptions_migrated: int


@dataclass(frozen=True)
class Refused:
    """The SDK's ``MigrationError``."""

    product_id: str
    target_price_id: str
    error: str


@dataclass(frozen=True)
class BulkMigration:
    results: tuple[Migrated, ...]
    errors: tuple[Refused, ...]


class _Refusal(Exception):
    """Why one migration can't be made; it becomes its ``MigrationError``."""


async def bulk_migrate_prices(
    session: AsyncSession, account_id: str, migrations: Sequence[PriceMigration]
) -> BulkMigration:
    """Make each migration in order, each in a savepoint: a refused one is reported and leaves nothing behind,
    while the others apply. Records ``product.updated`` for each product whose default price moved."""
    results: list[Migrated] = []
    errors: list[Refused] = []
    for migration in migrations:
        try:
            async with session.begin_nested():
                results.append(await _migrate(session, account_id, migration))
        except _Refusal as refusal:
            errors.append(Refused(migration.product_id, migration.target_price_id, str(refusal)))
    return BulkMigration(tuple(results), tuple(errors))


async def _migrate(session: AsyncSession, account_id: str, migration: PriceMigration) -> Migrated:
    try:
        product = await catalog.get_product(session, account_id, migration.product_id)
    except NotFound:
        raise _Refusal(f"no product {migration.product_id!r}") from None
    try:
        target = await catalog.get_price(session, account_id, migration.target_price_id)
    except NotFound:
        raise _Refusal(f"no price {migration.target_price_id!r}") from None
    if target.product_id != product.id:
        raise _Refusal(f"price {target.id!r} is not a price of product {product.id!r}")
    if not target.is_active:
        raise _Refusal(f"price {target.id!r} is archived")
    source_id = product.default_price_id
    if source_id == target.id:
        return Migrated(product.id, source_id, target.id, 0)
    if source_id is not None:
        source = await catalog.get_price(session, account_id, source_id)
        _require_alike(source, target)
        if migration.migrate_subscriptions and METERED in (source.usage_type, target.usage_type):
            # A metered item bills the usage reported under its price in arrears, on the renewal after the period.
            raise _Refusal("subscriptions on metered prices are not migrated: their usage bills in arrears")
    try:
        # Under the product's lock, which re-checks the target is still an active price of it.
        await catalog.update_product(session, account_id, product.id, {"default_price_id": target.id})
    except (CheckstandError, InvalidFields) as refused:
        raise _Refusal(str(refused)) from None
    moved = 0
    if migration.migrate_subscriptions and source_id is not None:
        moved = await _mark_items(session, account_id, source_id, target.id)
    return Migrated(product.id, source_id, target.id, moved)


def _require_alike(source: Price, target: Price) -> None:
    """A subscription billed in one currency, at one interval, on one contract term stays so: the target bills as the
    old default does."""
    if target.currency != source.currency:
        raise _Refusal(
            f"price {target.id!r} is in {target.currency.upper()}, the old default {source.id!r} in "
            f"{source.currency.upper()}: a migration keeps the currency"
        )
    source_terms = (source.recurring_interval, source.recurring_interval_count or 1)
    target_terms = (target.recurring_interval, target.recurring_interval_count or 1)
    if target_terms != source_terms:
        raise _Refusal(
            f"price {target.id!r} bills {_terms(*target_terms)}, the old default {source.id!r} {_terms(*source_terms)}:"
            " a migration keeps the billing interval"
        )
    if (target.contract_term_multiple or 1, target.auto_renew) != (
        source.contract_term_multiple or 1,
        source.auto_renew,
    ):
        raise _Refusal(f"price {target.id!r} has another contract term than the old default {source.id!r}")


def _terms(interval: str | None, count: int) -> str:
    if interval is None:
        return "once"
    return f"every {interval}" if count == 1 else f"every {count} {interval}s"


async def _mark_items(session: AsyncSession, account_id: str, source_id: str, target_id: str) -> int:
    """Mark the items of subscriptions still running that hold ``source_id`` (or were bound for it by an earlier
    migration) to move to ``target_id``; answers how many subscriptions that is. Repointing the earlier moves keeps
    every mark one step from its end, so a renewal never has a chain to follow."""
    live = select(Subscription.id).where(Subscription.account_id == account_id, Subscription.status != CANCELED)
    bound = or_(SubscriptionItem.price_id == source_id, SubscriptionItem.migrate_to_price_id == source_id)
    scope = (SubscriptionItem.account_id == account_id, SubscriptionItem.subscription_id.in_(live))
    moving = select(SubscriptionItem.subscription_id).where(*scope, bound, SubscriptionItem.price_id != target_id)
    subscriptions = set(await session.scalars(moving))
    await session.execute(
        update(SubscriptionItem)
        .where(*scope, bound)
        .values(migrate_to_price_id=target_id)
        .execution_options(synchronize_session=False)
    )
    # An item that was bound for the source from the target itself stays where it is.
    await session.execute(
        update(SubscriptionItem)
        .where(*scope, SubscriptionItem.price_id == target_id, SubscriptionItem.migrate_to_price_id == target_id)
        .values(migrate_to_price_id=None)
        .execution_options(synchronize_session=False)
    )
    return len(subscriptions)


def price_moves(subscription: Subscription) -> dict[str, Price]:
    """The prices the subscription's items move to at its next renewal, by the price each leaves."""
    return {item.price_id: item.migrate_to_price for item in subscription.items if item.migrate_to_price is not None}


def migrated(line: PlanLine, moves: Mapping[str, Price]) -> PlanLine:
    """``line`` on the price it moves to, priced by that price's scheme; the line itself when it doesn't move. The
    product's name is the line's: a migration stays within one product."""
    target = moves.get(line.price_id)
    if target is None:
        return line
    return PlanLine.of(
        target.id,
        target.product_id,
        line.product_name,
        line.quantity,
        target.unit_amount_atom,
        amount_for(target, line.quantity),
    )
