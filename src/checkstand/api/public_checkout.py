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

from checkstand.api.http.gateway import PaymentGateway
from checkstand.api.http.unit_of_work import Session
from checkstand.api.paymentkit.common import WireModel
from checkstand.checkout import plans as checkout_plans
from checkstand.checkout import service as checkout_service
from checkstand.checkout import trials
from checkstand.checkout.models import CheckoutSession
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


class CustomerIn(WireModel):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=201)] | None = None
    email: EmailStr | None = None


class ConfirmIn(WireModel):
    payment_method: PaymentMethodIn
    customer: CustomerIn = Field(default_factory=CustomerIn)
    promotion_code: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)] | None = None


class PublicLineItem(BaseModel):
    product_name: str
    price_name: str | None
    description: str | None
    quantity: int
    unit_amount_atom: int
    amount_subtotal_atom: int
    recurring_interval: str | None
    recurring_interval_count: int | None
    trial_days: int


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


async def _view(session: AsyncSession, checkout: CheckoutSession) -> PublicCheckout:
    is_open = checkout_service.is_open(checkout)
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
                    PublicLineItem.model_validate(item, from_attributes=True)
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
    )


@router.post("/{secure_token}/confirm")
async def confirm_checkout(
    secure_token: Token, body: ConfirmIn, request: Request, gateway: PaymentGateway
) -> PublicAttempt:
    """Pay, from the primary tier down the cascade; answers the attempt as it stands: succeeded (with where to go),
    failed (with the customer's message; the session stays open), or requires_action (with the challenge to open)."""
    confirmation = flow.Confirmation(
        payment_method=body.payment_method.to_method(),
        customer=flow.CustomerDetails(name=body.customer.name, email=body.customer.email),
        promotion_code=body.promotion_code,
        client_ip=request.client.host if request.client else None,
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
