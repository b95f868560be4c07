"""Changing a live subscription: its own fields (description, metadata, saved payment method, trial, scheduled end,
custom fields) and its items.

Items change here with ``proration_behavior: none``, as Stripe does with it: the items are replaced at once and the
next invoice bills them at their full price; nothing is credited or charged for the rest of the current period. The
prorating behaviours take the plan :func:`proposed_plan` checks to ``payments.plan_changes``. Every check runs before
the first change, so a refused request changes nothing. An add-on stays beside one of its base prices
(:func:`_add_on_problems`), and a change may not cut a contract term short (:mod:`.contracts`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.catalog import service as catalog
from checkstand.catalog.models import METERED, Price
from checkstand.catalog.pricing import amount_for, bills_per_unit
from checkstand.core.errors import FieldProblem, InvalidFields, NotFound
from checkstand.core.ids import new_id
from checkstand.core.metadata import merge_metadata
from checkstand.core.money import max_amount_atom
from checkstand.custom_fields.service import apply_custom_fields
from checkstand.events.service import record_event, snapshot
from checkstand.subscriptions import contracts
from checkstand.subscriptions.methods import customer_method
from checkstand.subscriptions.models import TRIALING, Subscription, SubscriptionItem
from checkstand.subscriptions.periods import add_interval
from checkstand.subscriptions.proration import PlanLine
from checkstand.subscriptions.service import locked_subscription, require_not_canceled
from checkstand.subscriptions.timing import now_for

MAX_QUANTITY: Final = 999_999
MAX_ITEMS: Final = 100
MAX_TRIAL_DAYS: Final = 730
PRORATION_NONE: Final = "none"
# Fields whose change moves what the lifecycle does next (the scheduled end, the trial's end).
LIFECYCLE_FIELDS: Final = frozenset({"cancel_at_period_end", "trial_end", "trial_period_days"})
UPDATABLE: Final = frozenset(
    {
        "description",
        "metadata",
        "default_payment_method_id",
        "cancel_at_period_end",
        "trial_end",
        "trial_period_days",
        "coupon_id",
        "promotion_code",
        "custom_fields",
    }
)
NOT_YET: Final = "changing a subscription's discount is not supported yet"
# Its usage of the period is billed at the period's end: swapping or dropping the item mid-period would lose it.
METERED_NOT_CHANGED: Final = "metered items are not added, changed or removed by an items update yet"


# --- Subscription fields --------------------------------------------------------------------------------------------


async def update_subscription(
    session: AsyncSession, account_id: str, subscription_id: str, changes: Mapping[str, Any]
) -> tuple[Subscription, list[str]]:
    """Apply the fields present in ``changes``; answers the subscription and the names of the fields that changed.

    Records one ``subscription.updated`` when anything changed."""
    unknown = set(changes) - UPDATABLE
    if unknown:
        raise ValueError(f"not subscription fields: {sorted(unknown)}")
    subscription = await locked_subscription(session, account_id, subscription_id)
    require_not_canceled(subscription)
    problems = [
        FieldProblem((name,), NOT_YET, "not_supported")
        for name in ("coupon_id", "promotion_code")
        if changes.get(name) is not None
    ]
    values: dict[str, Any] = {}
    if "description" in changes:
        values["description"] = changes["description"]
    if "cancel_at_period_end" in changes and changes["cancel_at_period_end"] is not None:
        values["cancel_at_period_end"] = bool(changes["cancel_at_period_end"])
    if "metadata" in changes:
        values["subscription_metadata"] = merge_metadata(subscription.subscription_metadata, changes["metadata"])
    if changes.get("default_payment_method_id") is not None:
        method = await customer_method(
            session,
            account_id,
            subscription.customer_id,
            changes["default_payment_method_id"],
            ("default_payment_method_id",),
            problems,
        )
        if method is not None:
            values["default_payment_method_id"] = method.id
            values["payment_method_reference"] = method.processor_reference
            values["processor_id"] = method.processor_id
    trial_end = await _new_trial_end(session, subscription, changes, problems)
    if trial_end is not None:
        values.update(
            trial_end=trial_end,
            trial_ending_notified_at=None,
            current_period_start=trial_end,
            billing_anchor=trial_end,
            current_period_end=add_interval(
                trial_end, subscription.billing_interval, subscription.billing_interval_count
            ),
        )
    if changes.get("custom_fields") is not None:
        try:
            values["custom_fields"] = await apply_custom_fields(
                session, account_id, "subscription", subscription.custom_fields, changes["custom_fields"]
            )
        except InvalidFields as invalid:
            problems.extend(invalid.problems)
    if problems:
        raise InvalidFields(problems)
    changed = {name: value for name, value in values.items() if getattr(subscription, name) != value}
    if not changed:
        return subscription, []
    before = snapshot(subscription)
    for name, value in changed.items():
        setattr(subscription, name, value)
    await session.flush()
    await record_event(session, account_id=account_id, type="subscription.updated", obj=subscription, before=before)
    return subscription, sorted({_WIRE_NAMES.get(name, name) for name in changed})


# The wire's names of the columns an update writes (the others are the same).
_WIRE_NAMES: Final = {
    "subscription_metadata": "metadata",
    "payment_method_reference": "default_payment_method_id",
    "processor_id": "default_payment_method_id",
    "trial_ending_notified_at": "trial_end",
    "current_period_start": "trial_end",
    "current_period_end": "trial_end",
    "billing_anchor": "trial_end",
}


def touches_lifecycle(updated_fields: Sequence[str]) -> bool:
    """Whether a change moves what the lifecycle does next (the SDK's ``lifecycle_triggered``)."""
    return bool(LIFECYCLE_FIELDS & set(updated_fields))


async def _new_trial_end(
    session: AsyncSession, subscription: Subscription, changes: Mapping[str, Any], problems: list[FieldProblem]
) -> datetime | None:
    """The trial's new end from ``trial_end`` or ``trial_period_days`` (counted from the trial's start), or None
    when neither is sent. Only a running trial moves, and only to a moment still ahead: ending a trial is the
    lifecycle's work (it charges the first period)."""
    trial_end, days = changes.get("trial_end"), changes.get("trial_period_days")
    if trial_end is None and days is None:
        return None
    field = "trial_end" if trial_end is not None else "trial_period_days"
    if trial_end is not None and days is not None:
        problems.append(FieldProblem(("trial_period_days",), "give trial_end or trial_period_days, not both"))
        return None
    if subscription.status != TRIALING or subscription.trial_start is None:
        problems.append(
            FieldProblem((field,), f"only a trialing subscription's trial can change; it is {subscription.status}")
        )
        return None
    if days is not None:
        if not 1 <= days <= MAX_TRIAL_DAYS:
            problems.append(FieldProblem((field,), f"must be between 1 and {MAX_TRIAL_DAYS}"))
            return None
        trial_end = subscription.trial_start + timedelta(days=days)
    assert isinstance(trial_end, datetime)
    if trial_end <= await now_for(session, subscription):
        problems.append(FieldProblem((field,), "the trial's new end must be in the future"))
        return None
    if trial_end > subscription.trial_start + timedelta(days=MAX_TRIAL_DAYS):
        problems.append(FieldProblem((field,), f"a trial lasts at most {MAX_TRIAL_DAYS} days"))
        return None
    return trial_end


# --- Items ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ItemChange:
    """One entry of an items update, as the SDK's ``UpdateSubscriptionItemPayload``: ``id`` alone with a quantity or
    a price changes an item, ``deleted`` removes it, no ``id`` adds a price."""

    id: str | None = None
    price_id: str | None = None
    quantity: int | None = None
    deleted: bool = False


async def update_items(
    session: AsyncSession,
    account_id: str,
    subscription_id: str,
    changes: Sequence[ItemChange],
    *,
    proration_behavior: str = PRORATION_NONE,
    proration_date: datetime | None = None,
) -> Subscription:
    """Replace, add and remove items; they bill from the next invoice on. Records ``subscription.updated``.

    The prorating behaviours charge or leave floating items, which takes invoices and payments: those run in
    ``payments.plan_changes``, which prices the same items with :func:`proposed_plan`."""
    if proration_behavior != PRORATION_NONE:
        raise ValueError(f"proration_behavior {proration_behavior!r} is payments.plan_changes' to run")
    if proration_date is not None:
        raise InvalidFields.one(("proration_date",), "only applies with prorations (proration_behavior)")
    subscription = await locked_subscription(session, account_id, subscription_id)
    require_not_canceled(subscription)
    existing, plan, added = await _resolve(session, subscription, changes, same_interval=True)
    contracts.require_term_kept(
        subscription,
        [price or existing[item_id].price for item_id, (price, _) in plan.items()] + [price for price, _ in added],
        anchor=subscription.billing_anchor or subscription.current_period_start,
        period_start=subscription.current_period_start,
        interval=(subscription.billing_interval, subscription.billing_interval_count),
    )
    before = snapshot(subscription)
    _apply(subscription, existing, plan, added)
    subscription.scheduled_change = None  # this change replaces one scheduled for the period's end
    await session.flush()
    await session.refresh(subscription, ["items"])
    await record_event(session, account_id=account_id, type="subscription.updated", obj=subscription, before=before)
    return subscription


async def proposed_plan(
    session: AsyncSession, subscription: Subscription, changes: Sequence[ItemChange]
) -> list[PlanLine]:
    """The plan the subscription would hold after ``changes``, checked as :func:`update_items` checks them, except
    that the prices may recur at another interval than the subscription's (all at one: a new period then starts)."""
    require_not_canceled(subscription)
    existing, plan, added = await _resolve(session, subscription, changes, same_interval=False)
    kept = [
        PlanLine.of(
            price.id if price else item.price_id,
            price.product_id if price else item.product_id,
            price.product.name if price else item.product_name,
            quantity,
            *_amounts(price or item.price, None if price else item, quantity),
        )
        for item_id, (price, quantity) in plan.items()
        for item in (existing[item_id],)
    ]
    new = [
        PlanLine.of(price.id, price.product_id, price.product.name, quantity, *_amounts(price, None, quantity))
        for price, quantity in added
    ]
    return kept + new


def _amounts(price: Price, item: SubscriptionItem | None, quantity: int) -> tuple[int, int]:
    """The unit amount and the amount per period of ``quantity`` of ``price``, on ``item`` as sold when the price is
    the item's: the unit amount times the quantity, or the price's scheme's amount for it (tiered, package)."""
    unit = item.unit_amount_atom if item is not None else price.unit_amount_atom
    return unit, quantity * unit if bills_per_unit(price) else amount_for(price, quantity)


async def _resolve(
    session: AsyncSession, subscription: Subscription, changes: Sequence[ItemChange], *, same_interval: bool
) -> tuple[dict[str, SubscriptionItem], dict[str, tuple[Price | None, int]], list[tuple[Price, int]]]:
    """Check every change before any is made: the items kept (by id, with a new price or None, and a quantity) and
    the prices added. Raises ``InvalidFields`` naming each problem."""
    problems: list[FieldProblem] = []
    if not changes:
        problems.append(FieldProblem(("items",), "give at least one item change", "too_short"))
    if len(changes) > MAX_ITEMS:
        problems.append(FieldProblem(("items",), f"at most {MAX_ITEMS} item changes", "too_long"))
    existing = {item.id: item for item in subscription.items}
    plan: dict[str, tuple[Price | None, int]] = {item.id: (None, item.quantity) for item in subscription.items}
    added: list[tuple[Price, int]] = []
    seen: set[str] = set()
    # Where each add-on rule would name a line: the changes adding a price, and the items a change takes a price from
    # (removed, or moved to another price) with the field that does it.
    added_at: list[int] = []
    taken: dict[str, tuple[int, str]] = {}
    for index, change in enumerate(changes):
        path = ("items", index)
        if change.id is not None and (change.id not in existing or change.id in seen):
            reason = "named twice" if change.id in seen else "no such item on this subscription"
            problems.append(FieldProblem((*path, "id"), reason))
            continue
        if change.quantity is not None and not 1 <= change.quantity <= MAX_QUANTITY:
            problems.append(FieldProblem((*path, "quantity"), f"must be between 1 and {MAX_QUANTITY}"))
            continue
        if change.id is None:
            if change.deleted or change.price_id is None:
                problems.append(FieldProblem((*path, "price_id"), "a new item needs a price_id (or give an id)"))
                continue
            price = await _recurring_price(
                session, subscription, change.price_id, (*path, "price_id"), problems, same_interval
            )
            if price is not None:
                added.append((price, change.quantity or 1))
                added_at.append(index)
            continue
        seen.add(change.id)
        if existing[change.id].price.usage_type == METERED:
            problems.append(FieldProblem((*path, "id"), METERED_NOT_CHANGED, "not_supported"))
            continue
        if change.deleted:
            if change.price_id is not None or change.quantity is not None:
                problems.append(FieldProblem((*path, "deleted"), "a deleted item takes no price_id or quantity"))
            del plan[change.id]
            taken[change.id] = (index, "id")
            continue
        price = None
        if change.price_id is not None and change.price_id != existing[change.id].price_id:
            price = await _recurring_price(
                session, subscription, change.price_id, (*path, "price_id"), problems, same_interval
            )
            if price is None:
                continue
        if price is None and change.quantity is None:
            problems.append(FieldProblem((*path, "quantity"), "give a quantity or a new price_id for the item"))
            continue
        plan[change.id] = (price, change.quantity or existing[change.id].quantity)
        if price is not None:
            taken[change.id] = (index, "price_id")
    if not problems and not plan and not added:
        problems.append(FieldProblem(("items",), "a subscription keeps at least one item", "too_short"))
    if not problems:
        problems += _add_on_problems(existing, plan, added, added_at, taken)
    if not problems:
        total = sum(
            _amounts(price or existing[item_id].price, None if price else existing[item_id], quantity)[1]
            for item_id, (price, quantity) in plan.items()
        ) + sum(_amounts(price, None, quantity)[1] for price, quantity in added)
        if total > max_amount_atom(subscription.currency):
            problems.append(FieldProblem(("items",), "the items' total per period is above the currency's limit"))
    if problems:
        raise InvalidFields(problems)
    return existing, plan, added


def _add_on_problems(
    existing: Mapping[str, SubscriptionItem],
    plan: Mapping[str, tuple[Price | None, int]],
    added: Sequence[tuple[Price, int]],
    added_at: Sequence[int],
    taken: Mapping[str, tuple[int, str]],
) -> list[FieldProblem]:
    """An add-on needs one of its base prices among the subscription's items after the change: one the change adds
    (or moves an item to) without it is refused at its price, and a change taking away the base of an add-on that
    stays is refused at the item holding that base. An add-on already held without its base (bought beside a base
    on another of the customer's subscriptions) may stay so."""
    kept = {item_id: price or existing[item_id].price for item_id, (price, _) in plan.items()}
    held = {price.id for price in kept.values()} | {price.id for price, _ in added}
    held_before = {item.price_id for item in existing.values()}
    problems = [
        FieldProblem(("items", index, "price_id"), _needs_base(price), "add_on_without_base")
        for index, (price, _) in zip(added_at, added, strict=True)
        if price.prerequisite_price_ids and held.isdisjoint(price.prerequisite_price_ids)
    ]
    for item_id, price in kept.items():
        bases = price.prerequisite_price_ids
        if not bases or not held.isdisjoint(bases):
            continue
        if item_id in taken:
            problems.append(
                FieldProblem(("items", taken[item_id][0], "price_id"), _needs_base(price), "add_on_without_base")
            )
        elif not held_before.isdisjoint(bases):
            problems += [
                FieldProblem(
                    ("items", index, field),
                    f"item {base_id} holds {existing[base_id].price_id!r}, the base price of add-on item {item_id} "
                    f"({price.id!r}), which stays: remove the add-on too, or keep one of its base prices",
                    "add_on_base_removed",
                )
                for base_id, (index, field) in taken.items()
                if existing[base_id].price_id in bases
            ]
    return problems


def _needs_base(price: Price) -> str:
    return (
        f"price {price.id!r} is an add-on: the subscription must hold one of its base prices "
        f"({', '.join(price.prerequisite_price_ids)}) after the change"
    )


def _apply(
    subscription: Subscription,
    existing: Mapping[str, SubscriptionItem],
    plan: Mapping[str, tuple[Price | None, int]],
    added: Sequence[tuple[Price, int]],
) -> None:
    """Items kept keep their position; a new one goes after every position used so far, so no two collide."""
    next_position = max((item.position for item in existing.values()), default=-1) + 1
    subscription.items = [item for item in subscription.items if item.id in plan]
    for item in subscription.items:
        price, quantity = plan[item.id]
        item.quantity = quantity
        if price is not None:
            _sell(item, price)
    for offset, (price, quantity) in enumerate(added):
        item = SubscriptionItem(
            id=new_id("si"), account_id=subscription.account_id, position=next_position + offset, quantity=quantity
        )
        _sell(item, price)
        subscription.items.append(item)


def _sell(item: SubscriptionItem, price: Price) -> None:
    """The item now sells ``price`` at its amount of today."""
    item.price = price
    item.price_id = price.id
    item.product_id = price.product_id
    item.product_name = price.product.name
    item.unit_amount_atom = price.unit_amount_atom
    item.description = None
    # A move a bulk price migration marked was from the price the item leaves: this change replaces it.
    item.migrate_to_price = None
    item.migrate_to_price_id = None


async def _recurring_price(
    session: AsyncSession,
    subscription: Subscription,
    price_id: str,
    path: tuple[str | int, ...],
    problems: list[FieldProblem],
    same_interval: bool,
) -> Price | None:
    """An active recurring price in the subscription's currency, recurring as the subscription does when
    ``same_interval``; a problem at ``path`` otherwise."""
    try:
        price = await catalog.get_price(session, subscription.account_id, price_id)
    except NotFound:
        problems.append(FieldProblem(path, "no such price"))
        return None
    interval = (subscription.billing_interval, subscription.billing_interval_count)
    if not price.is_active:
        problems.append(FieldProblem(path, "this price is archived"))
    elif price.recurring_interval is None:
        problems.append(FieldProblem(path, "a subscription item needs a recurring price"))
    elif price.usage_type == METERED:
        problems.append(FieldProblem(path, METERED_NOT_CHANGED, "not_supported"))
    elif same_interval and (price.recurring_interval, price.recurring_interval_count or 1) != interval:
        problems.append(
            FieldProblem(path, f"the price must recur every {interval[1]} {interval[0]}(s), as the subscription does")
        )
    elif price.currency != subscription.currency:
        problems.append(FieldProblem(path, f"the price must be in {subscription.currency}, as the subscription is"))
    else:
        return price
    return None
