"""Paid's ``amendments``: an order's plan changed in two phases (options, preview, execute) on the proration engine
the PaymentKit dialect's ``update_subscription_items`` uses (:mod:`checkstand.payments.amendments`).

An order line is a subscription item, with one attribute: both are addressed by the item's id. ``updateQuantity``,
``endAttribute`` and ``addFromCatalog`` (a plan: a price's id, or a product's attribute id for its default plan) are
served; an ``endAttribute`` with an ``addFromCatalog`` moves that line to the plan. The money treatment is
``prorate`` (the default: the proration's net charged now) or ``none`` (the new plan billed from the next renewal).
Each attribute's options list the plans it may move to (``plans``, an extra field), upgrades first. Money effects are
in minor units, as Paid gives them; the preview also says what is due now (``amountDueMinor``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path
from pydantic import Field, StringConstraints

from checkstand.api.http.gateway import PaymentGateway
from checkstand.api.http.unit_of_work import Session
from checkstand.api.paid import ids
from checkstand.api.paid.orders import billing_cycle
from checkstand.api.paid.wire import AccountId, PaidModel, PaidRequest
from checkstand.catalog.models import METERED
from checkstand.payments import amendments
from checkstand.subscriptions.proration import PlanLine

router = APIRouter(prefix="/orders/{order_id}/amendments", tags=["paid: amendments"])

OrderId = Annotated[str, Path(min_length=1, max_length=64, description="The order's id (ord_...).")]
Id = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Quantity = Annotated[int, Field(ge=0, le=10**9)]
Treatment = Literal["none", "prorate", "signalsFromAmendment", "allSignalsInPeriod"]
ChargeStub = Literal["none", "prorated", "full"]
SECONDS_A_DAY = 86_400

# --- Requests -------------------------------------------------------------------------------------------------------


class UpdateQuantityIn(PaidRequest):
    type: Literal["updateQuantity"]
    order_line_attribute_id: Id
    new_quantity: Quantity
    treatment: Treatment | None = None

    def intent(self) -> amendments.Intent:
        return amendments.Intent(
            self.type, item_id=self.order_line_attribute_id, quantity=self.new_quantity, treatment=self.treatment
        )


class EndAttributeIn(PaidRequest):
    type: Literal["endAttribute"]
    order_line_attribute_id: Id
    treatment: Treatment | None = None

    def intent(self) -> amendments.Intent:
        return amendments.Intent(self.type, item_id=self.order_line_attribute_id, treatment=self.treatment)


class AddFromCatalogIn(PaidRequest):
    type: Literal["addFromCatalog"]
    product_attribute_id: Id
    quantity: Quantity | None = None
    unit_price_minor: int | None = None
    charge_stub: ChargeStub | None = None

    def intent(self) -> amendments.Intent:
        return amendments.Intent(
            self.type,
            plan_id=self.product_attribute_id,
            quantity=self.quantity,
            charge_stub=self.charge_stub,
            unit_amount_atom=self.unit_price_minor,
        )


class UpdatePricingIn(PaidRequest):
    """Refused: an order's plans are priced by the catalog."""

    type: Literal["updatePricing"]
    order_line_attribute_id: Id
    new_unit_price_minor: int | None = None
    new_pricing: dict[str, Any] | None = None
    new_quantity: Quantity | None = None
    treatment: Treatment | None = None

    def intent(self) -> amendments.Intent:
        return amendments.Intent(self.type, item_id=self.order_line_attribute_id, treatment=self.treatment)


class AddAttributeIn(PaidRequest):
    """Refused: an order's plans are priced by the catalog (``addFromCatalog`` adds one)."""

    type: Literal["addAttribute"]
    product_id: Id
    plan_product_id: Id | None = None
    product_attribute_id: Id | None = None
    line_name: Annotated[str, StringConstraints(max_length=250)]
    pricing: dict[str, Any]
    quantity: Quantity
    currency: Annotated[str, StringConstraints(max_length=3)] | None = None
    charge_stub: ChargeStub | None = None
    credit_grant: Annotated[str, StringConstraints(max_length=32)] | None = None
    treatment: Treatment | None = None

    def intent(self) -> amendments.Intent:
        return amendments.Intent(self.type, treatment=self.treatment)


class UpdateLineTermIn(PaidRequest):
    """Refused: a line lasts as long as its order."""

    type: Literal["updateLineTerm"]
    order_line_id: Id
    new_end_date: datetime
    treatment: Treatment | None = None

    def intent(self) -> amendments.Intent:
        return amendments.Intent(self.type, treatment=self.treatment)


class UpdateOrderTermIn(PaidRequest):
    """Refused: an order ends by being cancelled (deleted), now or at its period's end."""

    type: Literal["updateOrderTerm"]
    new_end_date: datetime
    extend_line_ids: Annotated[list[Id], Field(max_length=100)] | None = None
    treatment: Treatment | None = None

    def intent(self) -> amendments.Intent:
        return amendments.Intent(self.type, treatment=self.treatment)


IntentIn = Annotated[
    UpdateQuantityIn
    | EndAttributeIn
    | AddFromCatalogIn
    | UpdatePricingIn
    | AddAttributeIn
    | UpdateLineTermIn
    | UpdateOrderTermIn,
    Field(discriminator="type"),
]


class AmendmentIn(PaidRequest):
    order_version: Annotated[int, Field(ge=0, le=2**31 - 1, description="The options' orderVersion.")]
    intents: Annotated[list[IntentIn], Field(max_length=50)]
    default_treatment: Treatment | None = None

    def amendment(self) -> amendments.Amendment:
        return amendments.Amendment(
            self.order_version, [intent.intent() for intent in self.intents], self.default_treatment
        )


class ExecuteIn(AmendmentIn):
    plan_hash: Annotated[str, StringConstraints(pattern=r"^[0-9]{1,18}\.[0-9a-f]{64}$")] | None = Field(
        default=None, description="The preview's: the change is priced as previewed, or refused (409) if it drifted."
    )


# --- Responses ------------------------------------------------------------------------------------------------------


class AttributeStateOut(PaidModel):
    """The SDK's ``AmendmentAttributeState``: amounts in minor units, a period's."""

    quantity: int
    unit_price_minor: int | None
    total_amount_minor: int
    currency: str
    charge_type: Literal["recurring", "usage"]
    metered_usage: bool
    product_id: str
    plan_id: str

    @classmethod
    def of(cls, line: PlanLine, currency: str, *, metered: bool) -> AttributeStateOut:
        return cls(
            quantity=line.quantity,
            unit_price_minor=line.unit_amount_atom if line.priced_atom is None else None,
            total_amount_minor=line.amount_atom,
            currency=currency.upper(),
            charge_type="usage" if metered else "recurring",
            metered_usage=metered,
            product_id=line.product_id,
            plan_id=line.price_id,
        )


class AxisOptionOut(PaidModel):
    value: str
    is_default: bool
    available: bool = True
    unavailable_reason: str | None = None


class AxisOut(PaidModel):
    axis: Literal["money"] = "money"
    relevance: Literal["midCycle"] = "midCycle"
    options: list[AxisOptionOut]


class IntentOptionsOut(PaidModel):
    kind: str
    axes: list[AxisOut]


def _money_axis() -> AxisOut:
    return AxisOut(
        options=[
            AxisOptionOut(value=amendments.PRORATE, is_default=True),
            AxisOptionOut(value="none", is_default=False),
        ]
    )


class PlanChoiceOut(PaidModel):
    """A plan the attribute may move to (end it and add this one from the catalog)."""

    plan_id: str
    product_id: str
    name: str
    transition: Literal["upgrade", "downgrade", "crossgrade"]
    unit_price_minor: int
    currency: str
    billing_cycle: str | None


class AttributeOptionsOut(PaidModel):
    order_line_attribute_id: str
    state: AttributeStateOut
    metered_usage: bool
    intents: list[IntentOptionsOut]
    locked_reason: str | None
    plans: list[PlanChoiceOut]


class LineOptionsOut(PaidModel):
    order_line_id: str
    attributes: list[AttributeOptionsOut]
    intents: list[IntentOptionsOut] = []
    locked_reason: str | None = None

    @classmethod
    def of(cls, options: amendments.ItemOptions) -> LineOptionsOut:
        item = options.item
        metered = item.price.usage_type == METERED
        line = PlanLine.of(
            item.price_id, item.product_id, item.product_name, item.quantity, item.unit_amount_atom, item.amount_atom
        )
        kinds = (
            [amendments.END_ATTRIBUTE]
            if options.locked_reason
            else [amendments.UPDATE_QUANTITY, amendments.END_ATTRIBUTE]
        )
        return cls(
            order_line_id=item.id,
            attributes=[
                AttributeOptionsOut(
                    order_line_attribute_id=item.id,
                    state=AttributeStateOut.of(line, item.price.currency, metered=metered),
                    metered_usage=metered,
                    intents=[IntentOptionsOut(kind=kind, axes=[_money_axis()]) for kind in kinds],
                    locked_reason=options.locked_reason,
                    plans=[
                        PlanChoiceOut(
                            plan_id=choice.price.id,
                            product_id=choice.price.product_id,
                            name=choice.price.name or choice.price.product.name,
                            transition=_transition(choice.transition),
                            unit_price_minor=choice.price.unit_amount_atom,
                            currency=choice.price.currency.upper(),
                            billing_cycle=billing_cycle(
                                (choice.price.recurring_interval or "month", choice.price.recurring_interval_count or 1)
                            ),
                        )
                        for choice in options.choices
                    ],
                )
            ],
        )


def _transition(value: str) -> Literal["upgrade", "downgrade", "crossgrade"]:
    return "upgrade" if value == "upgrade" else "downgrade" if value == "downgrade" else "crossgrade"


class AddAxisOptionOut(PaidModel):
    value: str
    is_default: bool
    unsupported_reason: str | None = None
    requires: list[dict[str, Any]] = []


class AddAxisOut(PaidModel):
    axis: Literal["chargeStub"] = "chargeStub"
    relevance: Literal["midCycle"] = "midCycle"
    applies_to: list[dict[str, Any]] = []
    options: list[AddAxisOptionOut]


class AddAttributeOptionsOut(PaidModel):
    axes: list[AddAxisOut]


class AmendmentOptionsOut(PaidModel):
    order_id: str
    order_version: int
    currency: str
    effective_date: str
    amendable: bool
    not_amendable_code: str | None
    not_amendable_reason: str | None
    lines: list[LineOptionsOut]
    add_attribute: AddAttributeOptionsOut
    stub_period_exists: bool
    order_term: dict[str, Any] | None = None
    current_period_end: str | None

    @classmethod
    def of(cls, options: amendments.Options) -> AmendmentOptionsOut:
        order = options.order
        subscription = order.subscription
        return cls(
            order_id=ids.row_order_id(order.row_id),
            order_version=order.version,
            currency=order.currency.upper(),
            effective_date=options.effective_at.isoformat(),
            amendable=options.not_amendable_code is None,
            not_amendable_code=options.not_amendable_code,
            not_amendable_reason=options.not_amendable_reason,
            lines=[LineOptionsOut.of(item) for item in options.items],
            add_attribute=AddAttributeOptionsOut(
                axes=[
                    AddAxisOut(
                        options=[
                            AddAxisOptionOut(value="prorated", is_default=True),
                            AddAxisOptionOut(value="none", is_default=False),
                            AddAxisOptionOut(
                                value="full",
                                is_default=False,
                                unsupported_reason="a plan added mid-period is prorated or not charged",
                            ),
                        ]
                    )
                ]
            ),
            stub_period_exists=subscription is not None
            and subscription.current_period_start < options.effective_at < subscription.current_period_end,
            current_period_end=subscription.current_period_end.isoformat() if subscription is not None else None,
        )


class PlannedEndOut(PaidModel):
    order_line_attribute_id: str
    intent_index: int


class PlannedReplaceOut(PaidModel):
    order_line_attribute_id: str
    new_quantity: int
    new_end_date: str | None = None
    intent_index: int
    new_plan_id: str


class PlannedAddOut(PaidModel):
    intent_index: int
    line_name: str
    line_type: Literal["STANDARD"] = "STANDARD"
    product_id: str
    product_attribute_id: str
    quantity: int
    currency: str


class PlannedOperationsOut(PaidModel):
    ends: list[PlannedEndOut]
    replaces: list[PlannedReplaceOut]
    copies: list[dict[str, Any]] = []
    adds: list[PlannedAddOut]
    order_term: dict[str, Any] | None = None


class MoneyEffectOut(PaidModel):
    intent_index: int
    kind: str
    order_line_attribute_id: str | None
    order_line_id: str | None
    amount_minor: int
    currency: str
    cycle_start: str
    cycle_end: str
    remaining_days: float
    total_days_in_cycle: float
    billing: Literal["inline"] = "inline"


class TreatmentOut(PaidModel):
    intent_index: int
    axis: Literal["money"] = "money"
    value: str
    source: str
    reason: str


class StateDiffOut(PaidModel):
    intent_index: int
    change: str
    order_line_attribute_id: str | None
    order_line_id: str | None
    before: AttributeStateOut | None
    after: AttributeStateOut | None
    governs_from: str
    next_invoice_at: str


_REASONS = {
    amendments.FROM_REQUEST: "the intent chose it",
    amendments.FROM_REQUEST_DEFAULT: "the request's defaultTreatment",
    amendments.FROM_DEFAULT: "a change is prorated unless asked otherwise",
}


class AmendmentPlanOut(PaidModel):
    """The SDK's ``AmendmentPlan``, with what the change nets now in minor units: ``chargeMinor`` for the rest of
    the period at the new plan, ``creditMinor`` for the unused time of the old one, ``amountDueMinor`` charged now
    (a net credit goes to the customer's balance), and the next renewal's plan amount."""

    plan_version: int = 1
    order_id: str
    order_version: int
    effective_date: str
    operations: PlannedOperationsOut
    money_effects: list[MoneyEffectOut]
    credit_effects: list[dict[str, Any]] = []
    usage_effects: list[dict[str, Any]] = []
    treatments_resolved: list[TreatmentOut]
    state_diff: list[StateDiffOut]
    plan_hash: str
    transition: str
    currency: str
    charge_minor: int
    credit_minor: int
    net_minor: int
    amount_due_minor: int
    next_renewal_minor: int
    next_renewal_at: datetime

    @classmethod
    def of(cls, quote: amendments.Quote) -> AmendmentPlanOut:
        subscription, proration = quote.subscription, quote.proration
        currency = subscription.currency.upper()
        metered = {item.price_id for item in subscription.items if item.price.usage_type == METERED}
        charged_now = quote.charged_now
        ends, replaces, adds, diffs = [], [], [], []
        for planned in quote.changes:
            before, after = planned.before, planned.after
            if planned.change == "ended" and planned.item_id is not None:
                ends.append(PlannedEndOut(order_line_attribute_id=planned.item_id, intent_index=planned.intent_index))
            elif planned.change == "replaced" and planned.item_id is not None and after is not None:
                replaces.append(
                    PlannedReplaceOut(
                        order_line_attribute_id=planned.item_id,
                        new_quantity=after.quantity,
                        intent_index=planned.intent_index,
                        new_plan_id=after.price_id,
                    )
                )
            elif after is not None:
                adds.append(
                    PlannedAddOut(
                        intent_index=planned.intent_index,
                        line_name=after.product_name,
                        product_id=after.product_id,
                        product_attribute_id=after.price_id,
                        quantity=after.quantity,
                        currency=currency,
                    )
                )
            diffs.append(
                StateDiffOut(
                    intent_index=planned.intent_index,
                    change=planned.change,
                    order_line_attribute_id=planned.item_id,
                    order_line_id=planned.item_id,
                    before=AttributeStateOut.of(before, currency, metered=before.price_id in metered)
                    if before is not None
                    else None,
                    after=AttributeStateOut.of(after, currency, metered=after.price_id in metered)
                    if after is not None
                    else None,
                    governs_from=quote.at.isoformat(),
                    next_invoice_at=(quote.at if charged_now else proration.next_renewal_at).isoformat(),
                )
            )
        return cls(
            order_id=ids.row_order_id(subscription.id),
            order_version=quote.version,
            effective_date=quote.at.isoformat(),
            operations=PlannedOperationsOut(ends=ends, replaces=replaces, adds=adds),
            money_effects=[
                MoneyEffectOut(
                    intent_index=effect.intent_index,
                    kind=effect.kind,
                    order_line_attribute_id=effect.item_id,
                    order_line_id=effect.item_id,
                    amount_minor=effect.amount_atom,
                    currency=currency,
                    cycle_start=effect.cycle_start.isoformat(),
                    cycle_end=effect.cycle_end.isoformat(),
                    remaining_days=effect.remaining_seconds / SECONDS_A_DAY,
                    total_days_in_cycle=effect.cycle_seconds / SECONDS_A_DAY,
                )
                for effect in quote.money_effects
            ],
            treatments_resolved=[
                TreatmentOut(
                    intent_index=index,
                    value=treatment.value,
                    source=treatment.source,
                    reason=_REASONS[treatment.source],
                )
                for index, treatment in enumerate(quote.treatments)
            ],
            state_diff=diffs,
            plan_hash=quote.plan_hash,
            transition=quote.transition,
            currency=currency,
            charge_minor=proration.charge_atom if charged_now else 0,
            credit_minor=proration.credit_atom if charged_now else 0,
            net_minor=proration.net_atom if charged_now else 0,
            amount_due_minor=proration.amount_due_atom if charged_now else 0,
            next_renewal_minor=proration.next_renewal_atom,
            next_renewal_at=proration.next_renewal_at,
        )


class AmendmentResultOut(PaidModel):
    """The SDK's ``UnifiedAmendmentResponse``. ``amendmentId`` is the change's record: the invoice that charged it,
    else its ``subscription.updated`` event. While its charge is pending (a 3-D Secure challenge), ``paymentStatus``
    says so and the order keeps its version until the charge settles."""

    order_id: str
    amendment_id: str
    version: int
    effective_date: str
    ended_line_ids: list[str]
    created_line_ids: list[str]
    plan: AmendmentPlanOut
    invoice_id: str | None
    payment_status: str | None

    @classmethod
    def of(cls, executed: amendments.Executed) -> AmendmentResultOut:
        return cls(
            order_id=ids.row_order_id(executed.order.row_id),
            amendment_id=executed.record_id,
            version=executed.order.version,
            effective_date=executed.quote.at.isoformat(),
            ended_line_ids=list(executed.ended_item_ids),
            created_line_ids=list(executed.created_item_ids),
            plan=AmendmentPlanOut.of(executed.quote),
            invoice_id=executed.invoice_id,
            payment_status=executed.payment_status,
        )


# --- Routes ---------------------------------------------------------------------------------------------------------


@router.get("/options")
async def get_order_amendment_options(
    account_id: AccountId, order_id: OrderId, session: Session
) -> AmendmentOptionsOut:
    """What the order admits now: its version (pass it to preview and execute), each line's intents and the plans
    it may move to; ``amendable`` false (with the reason) for an order that ended, a one-time purchase, or one whose
    previous change is still being charged."""
    options = await amendments.amendment_options(session, account_id, ids.resolve_order(order_id), order_id)
    return AmendmentOptionsOut.of(options)


@router.post("/preview")
async def preview_order_amendment(
    account_id: AccountId, order_id: OrderId, body: AmendmentIn, session: Session
) -> AmendmentPlanOut:
    """The change priced now, nothing written, as the PaymentKit dialect's preview prices it; ``planHash`` makes the
    execution charge exactly this. A stale ``orderVersion`` is a 409."""
    quote = await amendments.preview_amendment(
        session, account_id, ids.resolve_order(order_id), order_id, body.amendment()
    )
    return AmendmentPlanOut.of(quote)


@router.post("")
async def execute_order_amendment(
    account_id: AccountId, order_id: OrderId, body: ExecuteIn, session: Session, gateway: PaymentGateway
) -> AmendmentResultOut:
    """Apply the change: with ``prorate``, its net is charged now on the saved payment method and the change applies
    once paid (a decline is a 400 ``payment_failed`` and changes nothing). A stale ``orderVersion``, or a
    ``planHash`` the order no longer matches (renewed or changed since), is a 409 and changes nothing."""
    executed = await amendments.execute_amendment(
        session, gateway, account_id, ids.resolve_order(order_id), order_id, body.amendment(), body.plan_hash
    )
    return AmendmentResultOut.of(executed)
