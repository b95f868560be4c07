"""The public checkout API, keyed by a session's ``secure_token`` only: what the hosted page (or a merchant's own
front end) uses to show a session to its customer and to pay it.

No API key and no idempotency guard: whoever holds the token is the customer. So the view carries only what a
customer may see (no metadata, no processor references, no ids but the session's and the attempt's), and confirming
is rate-limited per session and per client IP. Confirm and resume don't use the request's unit of work: a payment is
committed as processing before the processor is called and recorded after, each step its own transaction
(:mod:`checkstand.payments.flow`), so they run on the app's database directly.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Request
from pydantic import BaseModel, EmailStr, Field, StringConstraints, model_validator
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.api.http.client_address import client_ip
from checkstand.api.http.gateway import PaymentGateway
from checkstand.api.http.unit_of_work import Session
from checkstand.api.paymentkit.common import WireModel
from checkstand.catalog.models import Price
from checkstand.checkout import metered, offer_choices, trials
from checkstand.checkout import plans as checkout_plans
from checkstand.checkout import service as checkout_service
from checkstand.checkout.models import CheckoutLineItem, CheckoutSession
from checkstand.checkout.offer_terms import cancel_link, is_offer
from checkstand.customers import service as customers
from checkstand.payments import flow, plan_change_sessions, three_d_secure
from checkstand.payments.adapters import Gateway
from checkstand.payments.models import FAILED, REQUIRES_ACTION, SUCCEEDED, CheckoutAttempt
from checkstand.payments.service import attempt_of_session
from checkstand.processors.base import CardDetails, PaymentMethod

router = APIRouter(prefix="/api/public/checkout", tags=["public checkout"])

Token = Annotated[str, StringConstraints(min_length=1, max_length=100)]


class CardIn(WireModel):
    """Digits are ASCII only: other scripts' digits (superscript, Arabic-Indic, full-width) are a 422 here, as
    they are on the page (:mod:`checkstand.pages.form_fields`). Spaces and dashes may separate a number's groups."""

    number: Annotated[str, StringConstraints(min_length=1, max_length=30, pattern=r"^[0-9][0-9 -]*$")]
    exp_month: Annotated[int, Field(ge=1, le=12)]
    exp_year: Annotated[int, Field(ge=0, le=9999)]
    cvc: Annotated[str, StringConstraints(min_length=1, max_length=8, pattern=r"^[0-9]+$")]


class PaymentMethodIn(WireModel):
    """A simulator card, or a processor's own payment method id (Stripe's ``pm_...``): exactly one."""

    card: CardIn | None = None
    payment_method_id: Annotated[str, StringConstraints(min_length=1, max_length=255)] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> PaymentMethodIn:
        if (self.card is None) == (self.payment_method_id is None):
            raise ValueError("give either card or payment_method_id")
        return self

    def to_method(self) -> PaymentMethod:
        if self.card is not None:
            card = self.card
            return PaymentMethod(card=CardDetails(card.number, card.exp_month, card.exp_year, card.cvc))
        return PaymentMethod(processor_reference=self.payment_method_id)


class AddressIn(WireModel):
    """Checked by the service (``customer.address.<field>`` errors): line1, city and a two-letter country code are
    required."""

    line1: Annotated[str, StringConstraints(max_length=500)] | None = None
    line2: Annotated[str, StringConstraints(max_length=500)] | None = None
    city: Annotated[str, StringConstraints(max_length=500)] | None = None
    state: Annotated[str, StringConstraints(max_length=500)] | None = None
    zip_code: Annotated[str, StringConstraints(max_length=500)] | None = None
    country: Annotated[str, StringConstraints(max_length=500)] | None = None


class CustomerIn(WireModel):
    """``phone`` and ``address`` are required when the checkout collects them (its ``offer`` says so), and ignored
    otherwise."""

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=201)] | None = None
    email: EmailStr | None = None
    phone: Annotated[str, StringConstraints(max_length=100)] | None = None
    address: AddressIn | None = None


class ConfirmIn(WireModel):
    payment_method: PaymentMethodIn
    customer: CustomerIn = Field(default_factory=CustomerIn)
    promotion_code: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)] | None = None


class PublicUsageTier(BaseModel):
    units_upto: int | None
    unit_amount_atom: int
    flat_amount_atom: int


class PublicUsageRate(BaseModel):
    """What a metered line bills at each period's end for the usage reported over the period: the price's scheme
    (``per_unit``: ``unit_amount_atom`` per ``per_units`` units, a started package counted whole; ``tiered``: its
    ``tiers`` in ``tiers_mode``, each tier's units priced at its ``unit_amount_atom`` plus its flat amount)."""

    billing_scheme: str
    unit_amount_atom: int
    per_units: int
    tiers_mode: str | None
    tiers: list[PublicUsageTier]

    @classmethod
    def of(cls, price: Price) -> PublicUsageRate:
        return cls(
            billing_scheme=price.billing_scheme,
            unit_amount_atom=price.unit_amount_atom,
            per_units=price.quantity_divisor or 1,
            tiers_mode=price.tiers_mode,
            tiers=[
                PublicUsageTier(
                    units_upto=tier.get("units_upto"),
                    unit_amount_atom=int(tier["unit_amount_atom"]),
                    flat_amount_atom=int(tier.get("flat_amount_atom") or 0),
                )
                for tier in price.tiers or ()
            ],
        )


class PublicLineItem(BaseModel):
    """``billed_by_usage``: a metered line, which charges nothing now (``amount_subtotal_atom`` 0) and bills the
    usage reported at each period's end, at ``usage_rate``."""

    product_name: str
    price_name: str | None
    description: str | None
    quantity: int
    unit_amount_atom: int
    amount_subtotal_atom: int
    recurring_interval: str | None
    recurring_interval_count: int | None
    trial_days: int
    billed_by_usage: bool = False
    usage_rate: PublicUsageRate | None = None

    @classmethod
    def of(cls, item: CheckoutLineItem, metered_price: Price | None) -> PublicLineItem:
        line = cls.model_validate(item, from_attributes=True)
        if metered_price is None:
            return line
        return line.model_copy(update={"billed_by_usage": True, "usage_rate": PublicUsageRate.of(metered_price)})


class PlanIn(WireModel):
    """A plan from ``plan_choices``: the line it is for and the tier's rank."""

    line_position: Annotated[int, Field(ge=0, le=999)]
    rank: Annotated[int, Field(ge=-(10**9), le=10**9)]


class PublicPlanOption(BaseModel):
    rank: int
    product_name: str
    price_name: str | None
    unit_amount_atom: int
    recurring_interval: str | None
    recurring_interval_count: int | None
    trial_days: int
    selected: bool


class PublicPlanChoice(BaseModel):
    """The tiers of a line's product family the customer may switch the line to."""

    line_position: int
    options: list[PublicPlanOption]


class PublicTier(BaseModel):
    """``amount_atom`` is the tier's total; ``amount_due_today_atom`` what paying it charges now (a trial's recurring
    part is charged when the trial ends, after ``trial_days``)."""

    tier: int
    amount_atom: int
    amount_due_today_atom: int
    trial_days: int
    line_items: list[PublicLineItem]


class NextAction(BaseModel):
    type: str = "redirect_to_url"
    url: str


class PublicAttempt(BaseModel):
    """An attempt as its customer sees it: our own message on failure, never the processor's words."""

    id: str
    state: str
    tier: int
    error_message: str | None
    decline_code: str | None
    next_action: NextAction | None
    redirect_url: str | None

    @classmethod
    def of(cls, attempt: CheckoutAttempt, checkout: CheckoutSession) -> PublicAttempt:
        waiting = attempt.state == REQUIRES_ACTION and attempt.action_url is not None
        return cls(
            id=attempt.id,
            state=attempt.state,
            tier=attempt.tier,
            error_message=attempt.error_message_for_customer if attempt.state == FAILED else None,
            decline_code=attempt.decline_code if attempt.state == FAILED else None,
            next_action=NextAction(url=attempt.action_url or "") if waiting else None,
            redirect_url=(checkout_service.success_redirect_url(checkout) if attempt.state == SUCCEEDED else None),
        )


class PublicPlan(BaseModel):
    """A plan a plan-change session leaves or takes: what is sold, never its ids."""

    product_name: str
    quantity: int
    unit_amount_atom: int


class PublicProrationLine(BaseModel):
    """A credit for the old plan's unused time (``amount_atom`` negative) or a charge for the new plan's rest of
    the period."""

    description: str
    amount_atom: int
    period_start: datetime
    period_end: datetime


class PublicPlanChange(BaseModel):
    """What a session that changes the customer's subscription costs: ``amount_due_today_atom`` is what paying
    charges now (the charge less the credit, never below 0); ``credit_to_balance_atom`` what a change worth less
    leaves on the customer's balance for the next invoice; then ``next_renewal_atom`` at ``next_renewal_at``."""

    kind: str
    current_plan: list[PublicPlan]
    new_plan: list[PublicPlan]
    lines: list[PublicProrationLine]
    credit_atom: int
    charge_atom: int
    amount_due_today_atom: int
    credit_to_balance_atom: int
    next_renewal_atom: int
    next_renewal_at: datetime

    @classmethod
    def of(cls, change: plan_change_sessions.PlanChange) -> PublicPlanChange:
        proration = change.proration
        return cls(
            kind=change.kind,
            current_plan=[PublicPlan.model_validate(line, from_attributes=True) for line in change.current_plan],
            new_plan=[PublicPlan.model_validate(line, from_attributes=True) for line in change.new_plan],
            lines=[PublicProrationLine.model_validate(line, from_attributes=True) for line in proration.lines],
            credit_atom=proration.credit_atom,
            charge_atom=proration.charge_atom,
            amount_due_today_atom=change.amount_due_today_atom,
            credit_to_balance_atom=max(-proration.net_atom, 0),
            next_renewal_atom=proration.next_renewal_atom,
            next_renewal_at=proration.next_renewal_at,
        )


class PublicOfferPlan(BaseModel):
    """A plan the customer may pick, named by ``index``: its place among its product's plans."""

    index: int
    product_name: str
    price_name: str | None
    unit_amount_atom: int
    recurring_interval: str | None
    recurring_interval_count: int | None
    trial_days: int
    features: list[str]
    selected: bool


class PublicOfferChoice(BaseModel):
    line_position: int
    options: list[PublicOfferPlan]


class PublicCustomCard(BaseModel):
    label: str
    price_text: str | None
    button_text: str | None
    button_url: str | None


class PublicOffer(BaseModel):
    """A Paid checkout's terms, as its customer sees them: the plans to pick among (``plan_choices``, by line), the
    currencies it may be paid in (switch with ``selection``), whether a phone number and an address must be given
    when paying, informational cards, and where cancelling leads (none: no cancel link). A ``reusable`` link is never
    paid itself: its page opens a new session for each visit."""

    reusable: bool
    collect_address: bool
    collect_phone: bool
    currencies: list[str]
    plan_choices: list[PublicOfferChoice]
    custom_cards: list[PublicCustomCard]
    cancel_url: str | None


class PlanPickIn(WireModel):
    line_position: Annotated[int, Field(ge=0, le=999)]
    plan_index: Annotated[int, Field(ge=0, le=999)]


class PromotionCodeIn(WireModel):
    promotion_code: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


class SelectionIn(WireModel):
    """Plans picked from ``offer.plan_choices`` and a currency from ``offer.currencies``; either may be left out."""

    plans: Annotated[list[PlanPickIn], Field(max_length=100)] = Field(default_factory=list)
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{3}$")] | None = None


class PublicCheckout(BaseModel):
    """``plan_change`` is set when paying changes the customer's subscription instead of starting one."""

    id: str
    state: str
    currency: str
    amount_subtotal_atom: int
    amount_discount_atom: int
    amount_total_atom: int
    amount_due_today_atom: int
    promotion_code: str | None
    tiers: list[PublicTier]
    plan_choices: list[PublicPlanChoice]
    plan_change: PublicPlanChange | None
    customer_email: str | None
    requires_customer_details: bool
    expires_at: datetime
    success_url: str
    return_url: str
    offer: PublicOffer | None = None


@router.get("/{secure_token}")
async def get_checkout(secure_token: Token, session: Session) -> PublicCheckout:
    return await _view(session, await checkout_service.get_by_token(session, secure_token))


@router.post("/{secure_token}/plan")
async def change_plan(secure_token: Token, body: PlanIn, session: Session) -> PublicCheckout:
    """Switch a line to another tier of its family (one of ``plan_choices``); every amount is re-priced by the
    server. Refused while a payment is in flight (409) and for a plan not offered (422)."""
    checkout = await checkout_service.lock_open_session(session, secure_token)
    await checkout_plans.change_plan(
        session, checkout, body.line_position, body.rank, plan_change=plan_change_sessions.price_session
    )
    return await _view(session, checkout)


@router.post("/{secure_token}/selection")
async def select_offer(secure_token: Token, body: SelectionIn, session: Session) -> PublicCheckout:
    """Pick a Paid checkout's plans and currency; every amount is re-priced by the server. Refused while a payment is
    in flight (409) and for a plan or currency not offered (422)."""
    checkout = await checkout_service.lock_open_session(session, secure_token)
    picks = {pick.line_position: pick.plan_index for pick in body.plans}
    await offer_choices.choose(session, checkout, picks, body.currency, plan_change=plan_change_sessions.price_session)
    return await _view(session, checkout)


@router.post("/{secure_token}/promotion-code")
async def apply_promotion_code(secure_token: Token, body: PromotionCodeIn, session: Session) -> PublicCheckout:
    """Apply a code the customer typed; every amount is re-priced by the server. Refused while a payment is in
    flight (409) and for a code that doesn't apply (422 at ``promotion_code``, saying why)."""
    checkout = await checkout_service.lock_open_session(session, secure_token)
    await checkout_service.apply_promotion_code(session, checkout, body.promotion_code)
    return await _view(session, checkout)


@router.delete("/{secure_token}/promotion-code")
async def remove_promotion_code(secure_token: Token, session: Session) -> PublicCheckout:
    """Take the code off again and re-price without it (a discount the merchant gave stays). Refused while a
    payment is in flight (409); without a code, nothing changes."""
    checkout = await checkout_service.lock_open_session(session, secure_token)
    await checkout_service.remove_promotion_code(session, checkout)
    return await _view(session, checkout)


async def _offer(session: AsyncSession, checkout: CheckoutSession) -> PublicOffer:
    choices = await offer_choices.offer_choices(session, checkout) if checkout_service.is_open(checkout) else []
    return PublicOffer(
        reusable=not checkout.single_use,
        collect_address=checkout.collect_address,
        collect_phone=checkout.collect_phone,
        currencies=offer_choices.currency_choices(checkout),
        plan_choices=[
            PublicOfferChoice(
                line_position=choice.line.position,
                options=[
                    PublicOfferPlan(
                        index=option.index,
                        product_name=option.price.product.name,
                        price_name=option.price.name,
                        unit_amount_atom=option.price.unit_amount_atom,
                        recurring_interval=option.price.recurring_interval,
                        recurring_interval_count=option.price.recurring_interval_count,
                        trial_days=option.price.trial_days,
                        features=list(option.features),
                        selected=option.selected,
                    )
                    for option in choice.options
                ],
            )
            for choice in choices
        ],
        custom_cards=[PublicCustomCard.model_validate(card) for card in checkout.custom_cards],
        cancel_url=cancel_link(checkout),
    )


async def _view(session: AsyncSession, checkout: CheckoutSession) -> PublicCheckout:
    is_open = checkout_service.is_open(checkout)
    metered_prices = await metered.metered_prices(session, checkout)
    email = None
    change = plan_change_sessions.plan_change_of(checkout)
    if checkout.customer_id is not None:
        email = (await customers.get_customer(session, checkout.account_id, checkout.customer_id)).email
    return PublicCheckout(
        id=checkout.id,
        state=checkout_service.state(checkout),
        currency=checkout.currency,
        amount_subtotal_atom=checkout.amount_subtotal_atom,
        amount_discount_atom=checkout.amount_discount_atom,
        amount_total_atom=checkout.amount_total_atom,
        amount_due_today_atom=checkout.amount_due_today_atom,
        promotion_code=checkout.promotion_code,
        tiers=[
            PublicTier(
                tier=tier,
                amount_atom=checkout.tier_amounts[tier],
                amount_due_today_atom=trials.amount_due_today(checkout, tier),
                trial_days=trials.trial_days(checkout, tier),
                line_items=[
                    PublicLineItem.of(item, metered_prices.get(item.price_id))
                    for item in checkout_service.tier_items(checkout, tier)
                ],
            )
            for tier in range(checkout_service.tier_count(checkout))
        ],
        plan_choices=[
            PublicPlanChoice(
                line_position=choice.line.position,
                options=[
                    PublicPlanOption(
                        rank=option.rank,
                        product_name=option.price.product.name,
                        price_name=option.price.name,
                        unit_amount_atom=option.price.unit_amount_atom,
                        recurring_interval=option.price.recurring_interval,
                        recurring_interval_count=option.price.recurring_interval_count,
                        trial_days=option.price.trial_days,
                        selected=option.selected,
                    )
                    for option in choice.options
                ],
            )
            for choice in (await checkout_plans.plan_choices(session, checkout) if is_open else [])
        ],
        plan_change=None if change is None else PublicPlanChange.of(change),
        customer_email=email,
        requires_customer_details=checkout.customer_id is None,
        expires_at=checkout.expires_at,
        success_url=checkout_service.success_redirect_url(checkout),
        return_url=checkout.return_url,
        offer=await _offer(session, checkout) if is_offer(checkout) else None,
    )


@router.post("/{secure_token}/confirm")
async def confirm_checkout(
    secure_token: Token, body: ConfirmIn, request: Request, gateway: PaymentGateway
) -> PublicAttempt:
    """Pay, from the primary tier down the cascade; answers the attempt as it stands: succeeded (with where to go),
    failed (with the customer's message; the session stays open), or requires_action (with the challenge to open)."""
    confirmation = flow.Confirmation(
        payment_method=body.payment_method.to_method(),
        customer=flow.CustomerDetails(
            name=body.customer.name,
            email=body.customer.email,
            phone=body.customer.phone,
            address=body.customer.address.model_dump() if body.customer.address is not None else None,
        ),
        promotion_code=body.promotion_code,
        client_ip=client_ip(request),
    )
    attempt = await flow.confirm(gateway, secure_token, confirmation)
    return await _public_attempt(gateway, secure_token, attempt)


@router.post("/{secure_token}/attempts/{attempt_id}/resume")
async def resume_attempt(
    secure_token: Token, attempt_id: Annotated[str, StringConstraints(max_length=64)], gateway: PaymentGateway
) -> PublicAttempt:
    """After the 3-D Secure challenge: settle the attempt with what the customer decided there."""
    attempt = await three_d_secure.resume(gateway, secure_token, attempt_id)
    return await _public_attempt(gateway, secure_token, attempt)


@router.get("/{secure_token}/attempts/{attempt_id}")
async def get_attempt(
    secure_token: Token, attempt_id: Annotated[str, StringConstraints(max_length=64)], session: Session
) -> PublicAttempt:
    checkout = await checkout_service.get_by_token(session, secure_token)
    return PublicAttempt.of(await attempt_of_session(session, checkout, attempt_id), checkout)


async def _public_attempt(gateway: Gateway, secure_token: str, attempt: CheckoutAttempt) -> PublicAttempt:
    async with gateway.database.reading() as session:
        checkout = await checkout_service.get_by_token(session, secure_token)
    return PublicAttempt.of(attempt, checkout)
