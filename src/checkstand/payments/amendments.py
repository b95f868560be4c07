"""Amendments (Paid's): an order's plan changed in two phases, priced by the proration engine that the PaymentKit
dialect's ``update_subscription_items`` and its preview use (:mod:`checkstand.payments.plan_changes`): no second
engine, so both dialects quote and charge a change alike.

**Intents.** A change is asked for as Paid's intents on the subscription's items (an item is one of Paid's order
lines, with one attribute; both are addressed by the item's id): ``updateQuantity``, ``endAttribute``, and
``addFromCatalog`` of a plan (a price's id, or a product's attribute id, which is the product's: its default price).
An ``endAttribute`` and an ``addFromCatalog`` in one amendment are one move, the added plan taking the ended item's
place (and its quantity, unless the add gives one), as a PaymentKit item update naming a new price does. The other
intents (custom pricing, terms) are refused by field.

**Money** (Paid's treatment): ``prorate``, the default, charges the proration's net now on the saved payment method
(PaymentKit's ``always_invoice``; a net credit goes to the customer's balance); ``none`` applies the change now and
bills the new plan from the next renewal (PaymentKit's ``none``).

**Options** say whether the order can be amended now, its version and currency, the intents each item admits, and
the plans each item may move to (:mod:`checkstand.catalog.plan_choices`, the account's upgrade paths deciding).

**Preview and execution.** A preview answers the order's version and a plan hash: the instant the change was priced
at, and a digest of what was priced (the order, its version and period, the old and new plans, the treatment and the
proration). Executing with the hash prices the change at that same instant, so it charges what the preview showed
(as a PaymentKit ``proration_date`` does), and refuses it (409) when the order's version moved or the digest no
longer matches (the order was renewed, or its plan changed). Both are checked on the subscription's locked row, in
the transaction that applies or charges the change: of two executions of one preview racing, one applies and the
other is refused. The hash holds no secret: it quotes an instant any caller could ask a price at anyway.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.catalog import service as catalog
from checkstand.catalog.models import METERED, Price
from checkstand.catalog.plan_choices import PlanChoice, plan_choices
from checkstand.core.errors import BusinessRuleViolation, Conflict, FieldPath, FieldProblem, InvalidFields, NotFound
from checkstand.events.models import Event
from checkstand.payments import orders, plan_changes
from checkstand.payments.adapters import Gateway
from checkstand.payments.models import FAILED
from checkstand.subscriptions import changes
from checkstand.subscriptions import service as subscriptions
from checkstand.subscriptions.models import CANCELED, TRIALING, Subscription, SubscriptionItem
from checkstand.subscriptions.plan_changes import NOW, classify_change, current_plan, preview_plan_change
from checkstand.subscriptions.proration import PlanLine, Proration, seconds
from checkstand.subscriptions.timing import now_for

UPDATE_QUANTITY: Final = "updateQuantity"
END_ATTRIBUTE: Final = "endAttribute"
ADD_FROM_CATALOG: Final = "addFromCatalog"
SUPPORTED: Final = (UPDATE_QUANTITY, END_ATTRIBUTE, ADD_FROM_CATALOG)

PRORATE: Final = "prorate"
NO_PRORATION: Final = "none"
MONEY_VALUES: Final = (PRORATE, NO_PRORATION)
# Where a treatment came from, as Paid's ``treatmentsResolved`` says it.
FROM_REQUEST: Final = "request"
FROM_REQUEST_DEFAULT: Final = "requestDefault"
FROM_DEFAULT: Final = "default"
# An added plan's first partial period (Paid's ``chargeStub``) is the treatment said another way.
CHARGE_STUBS: Final = {"prorated": PRORATE, "none": NO_PRORATION}

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)
# An ItemChange's fields as an intent names them.
_INTENT_FIELDS: Final = {
    "id": "order_line_attribute_id",
    "price_id": "product_attribute_id",
    "quantity": "quantity",
    "deleted": "type",
}


@dataclass(frozen=True)
class Intent:
    """One of Paid's amendment intents in the domain's words. ``item_id`` is Paid's ``orderLineAttributeId``,
    ``plan_id`` its ``productAttributeId``."""

    kind: str
    item_id: str | None = None
    plan_id: str | None = None
    quantity: int | None = None
    treatment: str | None = None
    charge_stub: str | None = None
    unit_amount_atom: int | None = None


@dataclass(frozen=True)
class Amendment:
    order_version: int
    intents: Sequence[Intent]
    default_treatment: str | None = None


@dataclass(frozen=True)
class Treatment:
    value: str
    source: str


@dataclass(frozen=True)
class ItemOptions:
    """An item, what it may move to, and why its quantity can't change (metered usage), if it can't."""

    item: SubscriptionItem
    choices: Sequence[PlanChoice]
    locked_reason: str | None = None


@dataclass(frozen=True)
class Options:
    order: orders.Order
    effective_at: datetime
    items: Sequence[ItemOptions]
    not_amendable_code: str | None = None
    not_amendable_reason: str | None = None


@dataclass(frozen=True)
class PlannedChange:
    """What one intent does to a line (Paid's state diff): ``ended``, ``added`` or ``replaced`` (a new plan or
    quantity in the item's place), with the line before and after."""

    change: str
    intent_index: int
    item_id: str | None
    before: PlanLine | None
    after: PlanLine | None


@dataclass(frozen=True)
class MoneyEffect:
    """A proration line as Paid's money effect: a credit for the unused time of a line, or a charge for the rest of
    the period (``firstPeriodCharge``: a whole new period, when the change moves to another interval)."""

    kind: str
    intent_index: int
    item_id: str | None
    amount_atom: int
    cycle_start: datetime
    cycle_end: datetime
    remaining_seconds: int
    cycle_seconds: int


@dataclass(frozen=True)
class Quote:
    """A change priced (Paid's ``AmendmentPlan``): the order as it was, the plans before and after, the proration
    at ``at``, the treatment each intent resolved to, what each intent does to a line, and the money it moves now
    (none with ``none``)."""

    subscription: Subscription
    version: int
    at: datetime
    intents: Sequence[Intent]
    treatments: Sequence[Treatment]
    old: Sequence[PlanLine]
    new: Sequence[PlanLine]
    proration: Proration
    transition: str
    plan_hash: str
    changes: Sequence[PlannedChange] = ()
    money_effects: Sequence[MoneyEffect] = ()

    @property
    def treatment(self) -> str:
        return self.treatments[0].value

    @property
    def charged_now(self) -> bool:
        return self.treatment == PRORATE


@dataclass(frozen=True)
class Executed:
    """An amendment applied (or, its charge still pending, about to be): the order after it, the change as priced,
    its record (the invoice that charged it, else the subscription's ``subscription.updated`` event), and the items
    it ended and created."""

    order: orders.Order
    quote: Quote
    record_id: str
    ended_item_ids: Sequence[str]
    created_item_ids: Sequence[str]
    invoice_id: str | None = None
    payment_status: str | None = None


@dataclass(frozen=True)
class _Asked:
    """The intents checked: the PaymentKit item changes they make (each with the intent it came from) and the
    treatment of each intent."""

    item_changes: list[changes.ItemChange]
    change_intents: list[int]
    treatments: list[Treatment]
    intent_of_item: dict[str, int]
    intent_of_added_price: dict[str, int]


# --- Options --------------------------------------------------------------------------------------------------------


async def amendment_options(session: AsyncSession, account_id: str, row_ids: Sequence[str], order_id: str) -> Options:
    order = await orders.get_order(session, account_id, row_ids, order_id)
    subscription = order.subscription
    if subscription is None:
        return Options(
            order,
            order.start,
            [],
            "one_time_purchase",
            "A one-time purchase is complete: it has no plan to amend.",
        )
    now = await now_for(session, subscription)
    if subscription.status == CANCELED:
        return Options(order, now, [], "order_ended", f"Order {order_id} has ended.")
    items = [
        ItemOptions(
            item,
            await plan_choices(session, account_id, item.price),
            "usage is billed from the signals reported: its quantity is not set" if _metered(item) else None,
        )
        for item in subscription.items
    ]
    charging = await plan_changes.change_being_charged(session, subscription)
    if charging is not None:
        reason = f"A plan change of this order is being charged (invoice {charging}): amend it once that is settled."
        return Options(order, now, items, "plan_change_in_progress", reason)
    return Options(order, now, items)


# --- Preview --------------------------------------------------------------------------------------------------------


async def preview_amendment(
    session: AsyncSession, account_id: str, row_ids: Sequence[str], order_id: str, amendment: Amendment
) -> Quote:
    """The change priced now, nothing written: what executing it with the quote's plan hash will do."""
    subscription = await _amendable(session, account_id, row_ids, order_id)
    _require_version(subscription, amendment.order_version)
    asked = await _asked(session, subscription, amendment)
    new = await _proposed(session, subscription, asked)
    transition = await classify_change(session, subscription, new)
    at = await now_for(session, subscription)
    behavior = plan_changes.ALWAYS_INVOICE if asked.treatments[0].value == PRORATE else changes.PRORATION_NONE
    # The PaymentKit dialect's own preview of the same items change, priced at the same instant (a trial's period
    # starts when it ends: a change during it is priced at nothing, at no instant in particular).
    proration, _next_invoice = await plan_changes.preview_change(
        session,
        account_id,
        subscription.id,
        asked.item_changes,
        proration_behavior=behavior,
        effective=NOW,
        proration_date=None if subscription.status == TRIALING else at,
    )
    return _quote(subscription, amendment, asked, new, proration, transition, at)


# --- Execution ------------------------------------------------------------------------------------------------------


async def execute_amendment(
    session: AsyncSession,
    gateway: Gateway,
    account_id: str,
    row_ids: Sequence[str],
    order_id: str,
    amendment: Amendment,
    plan_hash: str | None,
) -> Executed:
    """Apply the change (see the module's docstring). A prorated change is charged as the PaymentKit dialect's
    ``always_invoice`` charges it, in transactions of its own around the processor call, so the request's is
    committed first; a declined charge changes nothing and is refused (``payment_failed``)."""
    quoted_at, digest = _read_plan_hash(plan_hash) if plan_hash is not None else (None, None)
    subscription = await _amendable(session, account_id, row_ids, order_id)
    _require_version(subscription, amendment.order_version)
    # A trial has paid nothing, so a change during it is priced at nothing whenever it is made: no instant to keep.
    trialing = subscription.status == TRIALING
    if (
        quoted_at is not None
        and not trialing
        and not (subscription.current_period_start <= quoted_at <= subscription.current_period_end)
    ):
        raise _plan_conflict(order_id)
    asked = await _asked(session, subscription, amendment)
    transition = await classify_change(session, subscription, await _proposed(session, subscription, asked))
    subscription_id, before = subscription.id, [item.id for item in subscription.items]
    guard = _PreviewGuard(order_id, amendment, asked, transition, quoted_at, digest)
    invoice_id = payment_status = None
    if asked.treatments[0].value == NO_PRORATION:
        locked = await subscriptions.locked_subscription(session, account_id, subscription.id)
        guard.locked(locked)
        new = await _proposed(session, locked, asked)
        await classify_change(session, locked, new)
        at = quoted_at or await now_for(session, locked)
        guard.priced(locked, new, await preview_plan_change(session, locked, new, at=at))
        await changes.update_items(session, account_id, subscription_id, asked.item_changes)
    else:
        await session.commit()
        changed = await plan_changes.change_items(
            gateway,
            account_id,
            subscription_id,
            asked.item_changes,
            proration_behavior=plan_changes.ALWAYS_INVOICE,
            proration_date=None if trialing else quoted_at,
            guard=guard,
        )
        if changed.payment_status == FAILED:
            raise BusinessRuleViolation(
                f"The amendment's charge was declined ({changed.payment_error or 'no reason given'}): order "
                f"{order_id} is unchanged (invoice {changed.invoice_id} is void).",
                code="payment_failed",
            )
        invoice_id, payment_status = changed.invoice_id, changed.payment_status
        # What this session read before is stale: the change was made in transactions of its own.
        session.expire_all()
    order = await orders.get_order(session, account_id, [subscription_id], order_id)
    after = [item.id for item in order.subscription.items] if order.subscription is not None else []
    record_id = invoice_id or await _latest_update(session, account_id, subscription_id) or subscription_id
    assert guard.quote is not None  # priced before the change applied
    return Executed(
        order,
        guard.quote,
        record_id,
        [item_id for item_id in before if item_id not in after],
        [item_id for item_id in after if item_id not in before],
        invoice_id,
        payment_status,
    )


class _PreviewGuard:
    """The execution's checks on the subscription's locked row (:class:`plan_changes.PlanGuard`): the order is still
    at the version the request names, and, with a plan hash, still prices the change as the preview did. Keeps the
    quote the change is applied at."""

    def __init__(
        self,
        order_id: str,
        amendment: Amendment,
        asked: _Asked,
        transition: str,
        quoted_at: datetime | None,
        digest: str | None,
    ) -> None:
        self.order_id, self.amendment, self.asked, self.transition = order_id, amendment, asked, transition
        self.quoted_at, self.digest = quoted_at, digest
        self.quote: Quote | None = None

    def locked(self, subscription: Subscription) -> None:
        _require_version(subscription, self.amendment.order_version)

    def priced(self, subscription: Subscription, new: Sequence[PlanLine], proration: Proration) -> None:
        at = self.quoted_at or proration.at
        quote = _quote(subscription, self.amendment, self.asked, new, proration, self.transition, at)
        if self.digest is not None and _read_plan_hash(quote.plan_hash)[1] != self.digest:
            raise _plan_conflict(self.order_id)
        self.quote = quote


# --- Checks and pricing ---------------------------------------------------------------------------------------------


async def _amendable(session: AsyncSession, account_id: str, row_ids: Sequence[str], order_id: str) -> Subscription:
    order = await orders.get_order(session, account_id, row_ids, order_id)
    if order.subscription is None:
        raise Conflict(
            f"Order {order_id} is a completed one-time purchase: it has no plan to amend.", code="not_amendable"
        )
    if order.subscription.status == CANCELED:
        raise Conflict(f"Order {order_id} has ended: it can't be amended.", code="not_amendable")
    return order.subscription


def _require_version(subscription: Subscription, version: int) -> None:
    if subscription.version != version:
        raise Conflict(
            f"The order is at version {subscription.version}, not {version}: it was amended since. Read its options "
            "again and preview the change anew.",
            code="order_version_conflict",
        )


def _plan_conflict(order_id: str) -> Conflict:
    return Conflict(
        f"Order {order_id}'s billing has changed since the preview (a renewal, another change): preview again.",
        code="plan_conflict",
    )


async def _asked(session: AsyncSession, subscription: Subscription, amendment: Amendment) -> _Asked:
    """The intents as PaymentKit item changes, every problem of every intent named at once."""
    problems: list[FieldProblem] = []
    if not amendment.intents:
        problems.append(FieldProblem(("intents",), "give at least one intent", "too_short"))
    items = {item.id: item for item in subscription.items}
    named: set[str] = set()
    quantities: list[tuple[int, SubscriptionItem, int]] = []
    ends: list[tuple[int, SubscriptionItem]] = []
    adds: list[tuple[int, Price, int | None]] = []
    treatments: list[Treatment] = []
    for index, intent in enumerate(amendment.intents):
        path: FieldPath = ("intents", index)
        treatments.append(_treatment(intent, amendment.default_treatment, path, problems))
        if intent.kind not in SUPPORTED:
            problems.append(
                FieldProblem(
                    (*path, "type"),
                    f"Checkstand amends an order's plans ({', '.join(SUPPORTED)}); {intent.kind} is not supported",
                    "not_supported",
                )
            )
            continue
        if intent.kind == ADD_FROM_CATALOG:
            price = await _catalog_plan(session, subscription, intent, path, problems)
            if price is not None:
                adds.append((index, price, intent.quantity))
            continue
        item = items.get(intent.item_id or "")
        if item is None or item.id in named:
            reason = "named by another intent" if item is not None else "no such attribute on this order"
            problems.append(FieldProblem((*path, "order_line_attribute_id"), reason))
            continue
        named.add(item.id)
        if intent.kind == END_ATTRIBUTE:
            ends.append((index, item))
        elif _metered(item):
            problems.append(
                FieldProblem((*path, "order_line_attribute_id"), "a metered attribute's quantity is its usage")
            )
        elif intent.quantity is None or not 1 <= intent.quantity <= changes.MAX_QUANTITY:
            problems.append(FieldProblem((*path, "new_quantity"), f"must be between 1 and {changes.MAX_QUANTITY}"))
        else:
            quantities.append((index, item, intent.quantity))
    values = {treatment.value for treatment in treatments}
    if len(values) > 1:
        problems.append(
            FieldProblem(("intents",), "every intent of one amendment is settled the same way (all prorate or none)")
        )
    if problems:
        raise InvalidFields(problems)
    asked = _Asked([], [], treatments, {}, {})
    # An end and an add are a move from one plan to the other, the added plan in the ended item's place.
    for (end_index, item), (add_index, price, quantity) in zip(ends, adds, strict=False):
        asked.item_changes.append(changes.ItemChange(id=item.id, price_id=price.id, quantity=quantity))
        asked.change_intents.append(add_index)
        asked.intent_of_item[item.id] = end_index
        asked.intent_of_added_price[price.id] = add_index
    for end_index, item in ends[len(adds) :]:
        asked.item_changes.append(changes.ItemChange(id=item.id, deleted=True))
        asked.change_intents.append(end_index)
        asked.intent_of_item[item.id] = end_index
    for add_index, price, quantity in adds[len(ends) :]:
        asked.item_changes.append(changes.ItemChange(price_id=price.id, quantity=quantity or 1))
        asked.change_intents.append(add_index)
        asked.intent_of_added_price[price.id] = add_index
    for index, item, quantity in quantities:
        asked.item_changes.append(changes.ItemChange(id=item.id, quantity=quantity))
        asked.change_intents.append(index)
        asked.intent_of_item[item.id] = index
    return asked


def _treatment(intent: Intent, default: str | None, path: FieldPath, problems: list[FieldProblem]) -> Treatment:
    """The money treatment an intent resolves to: its own (an add's charge stub says it), else the request's
    default, else ``prorate``."""
    if intent.charge_stub is not None:
        if intent.charge_stub not in CHARGE_STUBS:
            problems.append(
                FieldProblem(
                    (*path, "charge_stub"), "a plan added mid-period is prorated or not charged", "not_supported"
                )
            )
            return Treatment(PRORATE, FROM_REQUEST)
        return Treatment(CHARGE_STUBS[intent.charge_stub], FROM_REQUEST)
    chosen = (
        Treatment(intent.treatment, FROM_REQUEST)
        if intent.treatment is not None
        else Treatment(default, FROM_REQUEST_DEFAULT)
        if default is not None
        else Treatment(PRORATE, FROM_DEFAULT)
    )
    if chosen.value not in MONEY_VALUES:
        where = (*path, "treatment") if chosen.source == FROM_REQUEST else ("default_treatment",)
        problems.append(
            FieldProblem(where, "must be prorate or none: usage is not repriced by an amendment", "not_supported")
        )
    return chosen


async def _catalog_plan(
    session: AsyncSession, subscription: Subscription, intent: Intent, path: FieldPath, problems: list[FieldProblem]
) -> Price | None:
    """The price ``addFromCatalog`` names: a plan (a price id), or a product (its attribute id), whose default
    price it is. The catalog prices it: a custom unit price is refused."""
    if intent.unit_amount_atom is not None:
        problems.append(
            FieldProblem((*path, "unit_price_minor"), "an order's plans are priced by the catalog", "not_supported")
        )
    if intent.quantity is not None and not 1 <= intent.quantity <= changes.MAX_QUANTITY:
        problems.append(FieldProblem((*path, "quantity"), f"must be between 1 and {changes.MAX_QUANTITY}"))
    plan_id = intent.plan_id or ""
    try:
        if plan_id.startswith("prod_"):
            product = await catalog.get_product(session, subscription.account_id, plan_id)
            if product.default_price_id is None:
                problems.append(FieldProblem((*path, "product_attribute_id"), "the product has no default plan"))
                return None
            plan_id = product.default_price_id
        return await catalog.get_price(session, subscription.account_id, plan_id)
    except NotFound:
        problems.append(FieldProblem((*path, "product_attribute_id"), "no such plan or product"))
        return None


async def _proposed(session: AsyncSession, subscription: Subscription, asked: _Asked) -> list[PlanLine]:
    """The plan the subscription would hold, checked by the PaymentKit dialect's rules; a problem they find is
    named at the intent it came from."""
    try:
        return await changes.proposed_plan(session, subscription, asked.item_changes)
    except InvalidFields as invalid:
        raise InvalidFields([_at_intent(problem, asked) for problem in invalid.problems]) from None


def _at_intent(problem: FieldProblem, asked: _Asked) -> FieldProblem:
    path = problem.path
    if len(path) >= 2 and path[0] == "items" and isinstance(path[1], int) and path[1] < len(asked.change_intents):
        name = _INTENT_FIELDS.get(str(path[2]), "type") if len(path) > 2 else "type"
        return FieldProblem(("intents", asked.change_intents[path[1]], name), problem.msg, problem.type)
    return FieldProblem(("intents",), problem.msg, problem.type)


def _quote(
    subscription: Subscription,
    amendment: Amendment,
    asked: _Asked,
    new: Sequence[PlanLine],
    proration: Proration,
    transition: str,
    at: datetime,
) -> Quote:
    old = current_plan(subscription)
    treatment = asked.treatments[0].value
    document = {
        "order": subscription.id,
        "version": subscription.version,
        "period": [subscription.current_period_start.isoformat(), subscription.current_period_end.isoformat()],
        "at": at.isoformat(),
        "treatment": treatment,
        "old": [line.as_dict() for line in old],
        "new": [line.as_dict() for line in new],
        # The instant is the quote's own (a trial's proration is priced at whatever instant, always nothing).
        "proration": {key: value for key, value in proration.as_dict().items() if key != "at"}
        if treatment == PRORATE
        else None,
    }
    digest = hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()
    return Quote(
        subscription=subscription,
        version=subscription.version,
        at=at,
        intents=amendment.intents,
        treatments=asked.treatments,
        old=old,
        new=list(new),
        proration=proration,
        transition=transition,
        plan_hash=f"{(at - _EPOCH) // _MICROSECOND}.{digest}",
        changes=_planned_changes(subscription, asked, new),
        money_effects=_money_effects(subscription, asked, proration) if treatment == PRORATE else (),
    )


def _planned_changes(subscription: Subscription, asked: _Asked, new: Sequence[PlanLine]) -> list[PlannedChange]:
    """Each item change with the lines it takes and gives. The new plan lists the items kept, in their order (a
    moved item in its place), then the prices added (:func:`changes.proposed_plan`)."""
    deleted = {change.id for change in asked.item_changes if change.deleted}
    kept = [item for item in subscription.items if item.id not in deleted]
    after_item = dict(zip([item.id for item in kept], new, strict=False))
    added = iter(new[len(kept) :])
    before_item = {item.id: line for item, line in zip(subscription.items, current_plan(subscription), strict=True)}
    planned = []
    for change, index in zip(asked.item_changes, asked.change_intents, strict=True):
        if change.id is None:
            planned.append(PlannedChange("added", index, None, None, next(added, None)))
        elif change.deleted:
            planned.append(PlannedChange("ended", index, change.id, before_item.get(change.id), None))
        else:
            planned.append(
                PlannedChange("replaced", index, change.id, before_item.get(change.id), after_item.get(change.id))
            )
    return planned


def _money_effects(subscription: Subscription, asked: _Asked, proration: Proration) -> list[MoneyEffect]:
    """The proration's lines, each credit answering to the intent that ended or changed its item, each charge to the
    intent that added its price or changed its item's quantity."""
    item_of_price = {item.price_id: item.id for item in reversed(subscription.items)}
    effects = []
    for line in proration.lines:
        item_id = item_of_price.get(line.price_id or "")
        credit = line.amount_atom < 0
        if not credit and line.price_id in asked.intent_of_added_price:
            index, item_id = asked.intent_of_added_price[line.price_id or ""], None
        else:
            index = asked.intent_of_item.get(item_id or "", 0)
        whole_period = line.period_end != proration.period_end
        effects.append(
            MoneyEffect(
                kind="prorationCredit" if credit else "firstPeriodCharge" if whole_period else "prorationCharge",
                intent_index=index,
                item_id=item_id,
                amount_atom=abs(line.amount_atom),
                cycle_start=line.period_start if whole_period else proration.period_start,
                cycle_end=line.period_end,
                remaining_seconds=seconds(line.period_start, line.period_end),
                cycle_seconds=seconds(proration.period_start, proration.period_end)
                if not whole_period
                else seconds(line.period_start, line.period_end),
            )
        )
    return effects


def _read_plan_hash(plan_hash: str) -> tuple[datetime, str]:
    """The instant a plan hash quotes, and its digest; a string no preview made is a refused field."""
    instant, _, digest = plan_hash.partition(".")
    if not (instant.isdigit() and len(instant) <= 18 and len(digest) == 64):
        raise InvalidFields.one(("plan_hash",), "is not a plan hash a preview answered")
    return _EPOCH + int(instant) * _MICROSECOND, digest


def _metered(item: SubscriptionItem) -> bool:
    return item.price.usage_type == METERED


async def _latest_update(session: AsyncSession, account_id: str, subscription_id: str) -> str | None:
    """The id of the subscription's latest ``subscription.updated`` event: the record of a change applied now."""
    return await session.scalar(
        select(Event.id)
        .where(
            Event.account_id == account_id,
            Event.aggregate_id == subscription_id,
            Event.type == "subscription.updated",
        )
        .order_by(Event.seq.desc())
        .limit(1)
    )
