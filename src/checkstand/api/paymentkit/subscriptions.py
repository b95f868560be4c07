"""``subscriptions/``: every call of the SDK's subscriptions client: create, read, list (also per customer), update,
change items, pause and resume, cancel (now or at the period's end), activate, and the lifecycle's own steps.

Renders the SDK's ``SubscriptionResponse``. Calls that reach a processor (create without a trial, renew) take the
payment gateway: they commit before the processor call and settle after it, outside the request's unit of work.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Body, Depends, Query, Request, status
from pydantic import AwareDatetime, Field, TypeAdapter, ValidationError

from checkstand.api.http.auth import AccountId
from checkstand.api.http.gateway import PaymentGateway
from checkstand.api.http.query import expand_query, list_query
from checkstand.api.http.unit_of_work import Session
from checkstand.api.http.validation import invalid_request
from checkstand.api.paymentkit.common import NOT_SUPPORTED_YET, Metadata, PageOut, ResponseModel, WireModel
from checkstand.api.paymentkit.customers import Currency, CustomerOut
from checkstand.api.paymentkit.invoices import InvoiceOut
from checkstand.api.paymentkit.payment_methods import PaymentMethodOut
from checkstand.api.paymentkit.products import PriceOut
from checkstand.core.errors import BusinessRuleViolation
from checkstand.core.listing import ListParams
from checkstand.invoices import next_action as lifecycle
from checkstand.invoices import service as invoices
from checkstand.payments import collection, plan_changes, renewals, subscription_start
from checkstand.payments.dunning import DunningPolicy
from checkstand.subscriptions import changes, creation, pausing
from checkstand.subscriptions import service as subscriptions
from checkstand.subscriptions.models import STATUSES, Subscription, SubscriptionItem
from checkstand.subscriptions.proration import Proration

router = APIRouter(prefix="/api/{account_id}/subscriptions", tags=["subscriptions"])

# custom_fields is the one optional part; the others are always included and accepted so the SDK may ask for them.
EXPANDABLE = frozenset({"custom_fields", "customer", "items", "items.price", "payment_method"})


class SubscriptionItemOut(ResponseModel):
    """The SDK's ``SubscriptionItemResponse``; ``unit_amount_atom`` is the amount as sold, which a later price
    change leaves be."""

    id: str
    price: PriceOut
    quantity: int
    is_active: bool
    start_at_end: bool = False
    drop_at_end: bool = False
    product_name: str
    product_id: str
    unit_amount_atom: int
    description: str | None

    @classmethod
    def of(cls, item: SubscriptionItem) -> SubscriptionItemOut:
        return cls(
            id=item.id,
            price=PriceOut.of(item.price, custom_fields=False),
            quantity=item.quantity,
            is_active=True,
            product_name=item.product_name,
            product_id=item.product_id,
            unit_amount_atom=item.unit_amount_atom,
            description=item.description,
        )


class SubscriptionOut(ResponseModel):
    """The SDK's ``SubscriptionResponse``, plus Stripe's fields it lacks (interval, cancellation, the coupon terms
    and the saved payment method's reference)."""

    id: str
    state: str
    currency: str
    description: str | None = None
    current_period_start: datetime
    current_period_end: datetime
    trial_start: datetime | None
    trial_end: datetime | None
    created_at: datetime
    updated_at: datetime
    items: list[SubscriptionItemOut]
    customer: CustomerOut
    collection_method: str = "charge_automatically"
    payment_method: PaymentMethodOut | None = None
    note_id: str | None = None
    metadata: dict[str, Any]
    custom_fields: dict[str, Any] | None = Field(description="Only with expand=custom_fields.")
    account_id: str
    customer_id: str
    checkout_session_id: str | None
    billing_interval: str
    billing_interval_count: int
    cancel_at_period_end: bool
    canceled_at: datetime | None
    default_payment_method_id: str | None
    processor_id: str | None
    coupon_id: str | None
    discount: dict[str, Any] | None

    @classmethod
    def of(cls, subscription: Subscription, *, expand: frozenset[str] = frozenset()) -> SubscriptionOut:
        return cls(
            id=subscription.id,
            state=subscription.status,
            currency=subscription.currency,
            description=subscription.description,
            current_period_start=subscription.current_period_start,
            current_period_end=subscription.current_period_end,
            trial_start=subscription.trial_start,
            trial_end=subscription.trial_end,
            created_at=subscription.created_at,
            updated_at=subscription.updated_at,
            items=[SubscriptionItemOut.of(item) for item in subscription.items],
            customer=CustomerOut.of(subscription.customer),
            metadata=subscription.subscription_metadata,
            custom_fields=subscription.custom_fields if "custom_fields" in expand else None,
            account_id=subscription.account_id,
            customer_id=subscription.customer_id,
            checkout_session_id=subscription.checkout_session_id,
            billing_interval=subscription.billing_interval,
            billing_interval_count=subscription.billing_interval_count,
            cancel_at_period_end=subscription.cancel_at_period_end,
            canceled_at=subscription.canceled_at,
            default_payment_method_id=subscription.payment_method_reference,
            payment_method=_payment_method(subscription),
            processor_id=subscription.processor_id,
            coupon_id=subscription.coupon_id,
            discount=subscription.discount,
        )


def _payment_method(subscription: Subscription) -> PaymentMethodOut | None:
    """The saved payment method renewals charge, as the SDK's ``PaymentMethod`` (the event's snapshot embeds the
    same)."""
    method = subscription.payment_method_snapshot()
    return None if method is None else PaymentMethodOut.model_validate(method)


SubscriptionPage = PageOut[SubscriptionOut]


Expand = Annotated[frozenset[str], Depends(expand_query(*EXPANDABLE))]
# The service refuses another state, so the reference lists them.
State = Annotated[
    str | None,
    Query(max_length=16, description="Only subscriptions in this state.", json_schema_extra={"enum": list(STATUSES)}),
]


SubscriptionListQuery = Annotated[ListParams, Depends(list_query(subscriptions.LIST_SPEC))]


@router.get("/")
async def list_subscriptions(
    account_id: AccountId,
    params: SubscriptionListQuery,
    expand: Expand,
    session: Session,
    customer_external_id: Annotated[
        str | None, Query(max_length=64, description="Only this customer's subscriptions (its cus_ id).")
    ] = None,
    state: State = None,
) -> SubscriptionPage:
    """Newest first; also filterable (``filter``) by customer_id, currency, state, checkout_session_id,
    billing_interval and cancel_at_period_end."""
    page = await subscriptions.list_subscriptions(
        session, account_id, params, customer_id=customer_external_id, state=state
    )
    items = [SubscriptionOut.of(subscription, expand=expand) for subscription in page.items]
    return SubscriptionPage(items=items, total=page.total, has_more=page.has_more)


@router.get("/by-customer/{customer_external_id}")
async def list_subscriptions_by_customer(
    account_id: AccountId, customer_external_id: str, expand: Expand, session: Session, state: State = None
) -> list[SubscriptionOut]:
    """The customer's (its ``cus_`` id) subscriptions, newest first, at most 100: the SDK expects a bare list."""
    found = await subscriptions.list_by_customer(session, account_id, customer_external_id, state=state)
    return [SubscriptionOut.of(subscription, expand=expand) for subscription in found]


@router.get("/{subscription_id}")
async def get_subscription(
    account_id: AccountId, subscription_id: str, expand: Expand, session: Session
) -> SubscriptionOut:
    return SubscriptionOut.of(await subscriptions.get_subscription(session, account_id, subscription_id), expand=expand)


@router.post("/{subscription_id}/cancel")
async def cancel_subscription(account_id: AccountId, subscription_id: str, session: Session) -> SubscriptionOut:
    """Cancels at once; cancelling a canceled subscription is a 409."""
    return SubscriptionOut.of(await subscriptions.cancel(session, account_id, subscription_id), expand=EXPANDABLE)


@router.post("/{subscription_id}/cancel_at_period_end")
async def set_cancel_at_period_end(
    account_id: AccountId,
    subscription_id: str,
    session: Session,
    value: Annotated[bool, Query(description="true ends it when the current period ends; false keeps it.")] = True,
) -> SubscriptionOut:
    subscription = await subscriptions.set_cancel_at_period_end(session, account_id, subscription_id, value)
    return SubscriptionOut.of(subscription, expand=EXPANDABLE)


# --- Requests -------------------------------------------------------------------------------------------------------

Quantity = Annotated[int, Field(ge=1, le=changes.MAX_QUANTITY)]
ObjectId = Annotated[str, Field(min_length=1, max_length=64)]
Description = Annotated[str, Field(max_length=500)]
TrialDays = Annotated[int, Field(ge=1, le=changes.MAX_TRIAL_DAYS)]


class SubscriptionItemIn(WireModel):
    price_id: ObjectId
    quantity: Quantity


class SubscriptionCreate(WireModel):
    """The SDK's ``create_subscription`` body, plus Stripe's ``trial_period_days``. ``period_start`` is the first
    period's start (now, or earlier within the period); with a trial the first period starts at the trial's end."""

    customer_id: ObjectId
    period_start: AwareDatetime
    items: Annotated[list[SubscriptionItemIn], Field(min_length=1, max_length=changes.MAX_ITEMS)]
    currency: Currency | None = None
    period_end: AwareDatetime | None = None
    description: Description | None = None
    billing_interval: Annotated[str, Field(pattern="^(day|week|month|year)$")] | None = None
    billing_interval_count: Annotated[int, Field(ge=1, le=365)] | None = None
    trial_start: AwareDatetime | None = None
    trial_end: AwareDatetime | None = None
    trial_period_days: TrialDays | None = None
    total_billing_cycles: int | None = None
    collection_method: str | None = None
    net_d: int | None = None
    cancel_at_period_end: bool | None = None
    default_payment_method_id: ObjectId | None = Field(
        default=None, description="The customer's saved payment method; its newest one when omitted."
    )
    metadata: Metadata | None = None
    process_payment: bool | None = None
    idempotency_key: str | None = Field(default=None, description="Refused: send the Idempotency-Key header.")
    processor_external_id: ObjectId | None = None
    coupon_id: str | None = None
    promotion_code: str | None = None
    custom_fields: dict[str, Any] | None = None

    def spec(self) -> creation.NewSubscription:
        return creation.NewSubscription(
            customer_id=self.customer_id,
            items=[(item.price_id, item.quantity) for item in self.items],
            period_start=self.period_start,
            period_end=self.period_end,
            currency=self.currency,
            billing_interval=self.billing_interval,
            billing_interval_count=self.billing_interval_count,
            trial_start=self.trial_start,
            trial_end=self.trial_end,
            trial_period_days=self.trial_period_days,
            cancel_at_period_end=bool(self.cancel_at_period_end),
            default_payment_method_id=self.default_payment_method_id,
            processor_id=self.processor_external_id,
            description=self.description,
            metadata=self.metadata,
            custom_fields=self.custom_fields,
            collection_method=self.collection_method,
            total_billing_cycles=self.total_billing_cycles,
            net_d=self.net_d,
            coupon_id=self.coupon_id,
            promotion_code=self.promotion_code,
            process_payment=self.process_payment is not False,
            unsupported={"idempotency_key": "send it as the Idempotency-Key header"} if self.idempotency_key else {},
        )


class SubscriptionUpdate(WireModel):
    """The SDK's ``update_subscription`` body, plus ``metadata`` (merged as Stripe does: a key set to "" is removed).
    Fields not sent keep their values."""

    description: Description | None = None
    default_payment_method_id: ObjectId | None = None
    cancel_at_period_end: bool | None = None
    trial_end: AwareDatetime | None = None
    trial_period_days: TrialDays | None = None
    coupon_id: Annotated[str | None, NOT_SUPPORTED_YET] = None
    promotion_code: Annotated[str | None, NOT_SUPPORTED_YET] = None
    custom_fields: dict[str, Any] | None = None
    metadata: Metadata | None = None


class ItemChangeIn(WireModel):
    """The SDK's ``UpdateSubscriptionItemPayload``."""

    id: ObjectId | None = None
    price_id: ObjectId | None = None
    quantity: Quantity | None = None
    deleted: bool | None = None


class ItemsUpdate(WireModel):
    items: Annotated[list[ItemChangeIn], Field(min_length=1, max_length=changes.MAX_ITEMS)]
    proration_behavior: Literal["always_invoice", "create_prorations", "none"] | None = Field(
        default=None,
        description="'none' (the default here): the change bills from the next invoice; 'create_prorations': "
        "credits and charges for the rest of the period wait for the next invoice; 'always_invoice': they are "
        "invoiced and charged now, and the change applies only if that payment succeeds.",
    )
    proration_date: AwareDatetime | None = Field(
        default=None,
        description="The instant the change is priced at (a quote honoured): within the current period, not "
        "after now. Defaults to now.",
    )


class PauseIn(WireModel):
    resumes_at: AwareDatetime | None = Field(default=None, description="When collection resumes by itself.")


# --- Responses ------------------------------------------------------------------------------------------------------


class UpdateSubscriptionOut(ResponseModel):
    """The SDK's ``UpdateSubscriptionResponse``, plus the subscription as it now is."""

    subscription_id: str
    updated_fields: list[str]
    lifecycle_triggered: bool
    subscription: SubscriptionOut


class UpdateItemsOut(ResponseModel):
    """The SDK's ``UpdateSubscriptionItemsResponse``: with no proration nothing is invoiced or charged now."""

    subscription_id: str
    invoice_id: str | None = None
    payment_status: str | None = None
    payment_error: str | None = None
    floating_items_created: int = 0
    proration_amount_atom: int = 0
    subscription: SubscriptionOut


class NextActionOut(ResponseModel):
    """The SDK's ``NextActionResponse``."""

    action: str
    reason: str | None
    at: datetime | None
    invoice_id: str | None
    dunning_behavior: str | None


# --- Endpoints ------------------------------------------------------------------------------------------------------


@router.post("/", status_code=status.HTTP_201_CREATED)
async def create_subscription(
    account_id: AccountId, body: SubscriptionCreate, session: Session, gateway: PaymentGateway
) -> SubscriptionOut:
    """For a customer with a saved payment method. With a trial it starts trialing and nothing is charged; without,
    its first period is invoiced and charged at once, and it is ``incomplete`` until that payment succeeds."""
    # The charge runs in transactions of its own around the processor call: the request's (which checked the key)
    # must not hold one, on SQLite the write lock, across it.
    await session.commit()
    subscription = await subscription_start.start_subscription(gateway, account_id, body.spec())
    return SubscriptionOut.of(subscription, expand=EXPANDABLE)


@router.patch("/{subscription_id}")
async def update_subscription(
    account_id: AccountId, subscription_id: str, body: SubscriptionUpdate, session: Session, gateway: PaymentGateway
) -> UpdateSubscriptionOut:
    """A new ``default_payment_method_id`` is charged at once for the subscription's past-due invoices (unless the
    operator's dunning settings say otherwise): paid, the subscription is active again."""
    subscription, updated = await changes.update_subscription(
        session, account_id, subscription_id, body.model_dump(exclude_unset=True)
    )
    if "default_payment_method_id" in updated:
        # The charges commit before each processor call and settle after it, in transactions of their own: the
        # change is committed first, and no transaction of the request's stays open across a call.
        await session.commit()
        if await collection.settle_past_due(gateway, account_id, subscription_id):
            session.expire(subscription)  # settled in other transactions: read it as they left it
            subscription = await subscriptions.get_subscription(session, account_id, subscription_id)
    return UpdateSubscriptionOut(
        subscription_id=subscription.id,
        updated_fields=updated,
        lifecycle_triggered=changes.touches_lifecycle(updated),
        subscription=SubscriptionOut.of(subscription, expand=EXPANDABLE),
    )


@router.patch("/{subscription_id}/items")
async def update_subscription_items(
    account_id: AccountId, subscription_id: str, body: ItemsUpdate, session: Session, gateway: PaymentGateway
) -> UpdateItemsOut:
    """Add, change and remove items. With ``none`` the change bills from the next invoice; the prorating behaviours
    credit the unused time of the old items and charge the rest of the period for the new ones, now
    (``always_invoice``) or at the next renewal (``create_prorations``)."""
    item_changes = [changes.ItemChange(c.id, c.price_id, c.quantity, bool(c.deleted)) for c in body.items]
    behavior = body.proration_behavior or changes.PRORATION_NONE
    if behavior == changes.PRORATION_NONE:
        subscription = await changes.update_items(
            session, account_id, subscription_id, item_changes, proration_date=body.proration_date
        )
        return UpdateItemsOut(
            subscription_id=subscription.id, subscription=SubscriptionOut.of(subscription, expand=EXPANDABLE)
        )
    # The charge runs in transactions of its own around the processor call: the request's must not stay open.
    await session.commit()
    changed = await plan_changes.change_items(
        gateway,
        account_id,
        subscription_id,
        item_changes,
        proration_behavior=behavior,
        proration_date=body.proration_date,
    )
    return UpdateItemsOut(
        subscription_id=changed.subscription.id,
        invoice_id=changed.invoice_id,
        payment_status=changed.payment_status,
        payment_error=changed.payment_error,
        floating_items_created=changed.floating_items_created,
        proration_amount_atom=changed.proration_amount_atom,
        subscription=SubscriptionOut.of(changed.subscription, expand=EXPANDABLE),
    )


@router.post("/{subscription_id}/pause")
async def pause_subscription(
    account_id: AccountId, subscription_id: str, session: Session, body: Annotated[PauseIn | None, Body()] = None
) -> SubscriptionOut:
    """Collection paused (Stripe's ``pause_collection``): nothing is charged until it resumes."""
    resumes_at = body.resumes_at if body is not None else None
    subscription = await pausing.pause(session, account_id, subscription_id, resumes_at=resumes_at)
    return SubscriptionOut.of(subscription, expand=EXPANDABLE)


@router.post("/{subscription_id}/resume")
async def resume_subscription(account_id: AccountId, subscription_id: str, session: Session) -> SubscriptionOut:
    return SubscriptionOut.of(await pausing.resume(session, account_id, subscription_id), expand=EXPANDABLE)


@router.post("/{subscription_id}/get-next-action")
async def get_next_action(
    account_id: AccountId, subscription_id: str, session: Session, request: Request
) -> NextActionOut:
    """What the lifecycle does next and when, from the subscription's state and dates; changes nothing."""
    action = await lifecycle.next_action(session, account_id, subscription_id, request.app.state.settings)
    return NextActionOut.model_validate(action)


class ActivationOut(ResponseModel):
    """The SDK's ``SubscriptionActivationResult`` (``from_workflow=true``)."""

    status: str
    subscription_id: str
    reason: str | None


@router.post("/{subscription_id}/activate")
async def activate_subscription(
    account_id: AccountId,
    subscription_id: str,
    session: Session,
    from_workflow: Annotated[bool, Query(description="Answer a result instead of refusing a running trial.")] = False,
) -> SubscriptionOut | ActivationOut:
    """Ends a trial that is over, or completes an incomplete subscription whose first invoice is paid. A trial still
    running is a 400 (``skipped`` with ``from_workflow``); an unpaid first invoice a 409 (``failed``)."""
    activation = await subscription_start.activate(session, account_id, subscription_id)
    if from_workflow:
        return ActivationOut(
            status=activation.status, subscription_id=activation.subscription.id, reason=activation.reason
        )
    return SubscriptionOut.of(subscription_start.require_activated(activation), expand=EXPANDABLE)


class PreviewLineOut(ResponseModel):
    """The SDK's ``InvoicePreviewLineItem``."""

    product_name: str
    quantity: int
    unit_amount_atom: int
    amount_atom: int
    currency: str
    period_start: datetime
    period_end: datetime
    pricing_type: str = "recurring"
    recurring_interval: str
    recurring_interval_count: int
    price_id: str | None


class InvoicePreviewOut(ResponseModel):
    """The SDK's ``InvoicePreview``: the next invoice as it would be made now, never stored."""

    line_items: list[PreviewLineOut]
    subtotal_atom: int
    discount_atom: int
    total_excluding_tax_atom: int
    tax_atom: int = 0
    total_atom: int
    currency: str
    period_start: datetime
    period_end: datetime
    finalized_date: datetime
    due_date: datetime


class ProrationLineOut(ResponseModel):
    description: str
    price_id: str | None
    quantity: int
    amount_atom: int = Field(description="Negative for a credit (the unused time of an item left).")
    period_start: datetime
    period_end: datetime


class ProrationOut(ResponseModel):
    """What proposed items would credit and charge if applied at ``at`` (an extra of Checkstand's)."""

    currency: str
    at: datetime
    lines: list[ProrationLineOut]
    credit_atom: int
    charge_atom: int
    net_atom: int
    amount_due_atom: int = Field(description="What ``always_invoice`` would charge now (the net when positive).")
    next_renewal_atom: int
    next_renewal_at: datetime

    @classmethod
    def of(cls, proration: Proration) -> ProrationOut:
        return cls(
            currency=proration.currency,
            at=proration.at,
            lines=[ProrationLineOut.model_validate(line, from_attributes=True) for line in proration.lines],
            credit_atom=proration.credit_atom,
            charge_atom=proration.charge_atom,
            net_atom=proration.net_atom,
            amount_due_atom=proration.amount_due_atom,
            next_renewal_atom=proration.next_renewal_atom,
            next_renewal_at=proration.next_renewal_at,
        )


class PreviewOut(ResponseModel):
    """The SDK's ``SubscriptionPreviewResponse``; ``proration`` (an extra) when items were proposed."""

    subscription: SubscriptionOut
    upcoming_invoice: InvoicePreviewOut
    proration: ProrationOut | None = None


PROPOSED_ITEMS: Final = TypeAdapter(list[ItemChangeIn])


def _proposed(items: str) -> list[changes.ItemChange]:
    try:
        proposed = PROPOSED_ITEMS.validate_json(items)
    except ValidationError as error:
        reason = error.errors()[0]["msg"]
        raise invalid_request(("query", "items"), f"not a JSON list of item changes: {reason}") from None
    return [changes.ItemChange(c.id, c.price_id, c.quantity, bool(c.deleted)) for c in proposed]


@router.get("/{subscription_id}/preview")
async def preview_subscription(
    account_id: AccountId,
    subscription_id: str,
    session: Session,
    items: Annotated[
        str | None,
        Query(
            max_length=20_000,
            description="Checkstand's extra: proposed item changes, as ``update_subscription_items`` takes them "
            "(a JSON list); the answer's ``proration`` says what applying them would credit and charge.",
        ),
    ] = None,
    proration_date: Annotated[
        AwareDatetime | None, Query(description="The instant the proposed items are priced at (default now).")
    ] = None,
) -> PreviewOut:
    """The next renewal's invoice as it would be made now (items as they are now, the coupon's terms applied, the
    pending prorations and the customer's credit balance included); with proposed ``items``, also the proration
    applying them would bring, nothing applied."""
    proration = None
    if items is not None:
        proration = await plan_changes.preview_items(
            session, account_id, subscription_id, _proposed(items), proration_date=proration_date
        )
    subscription = await subscriptions.get_subscription(session, account_id, subscription_id)
    preview = await invoices.preview_renewal(session, subscription)
    interval = (subscription.billing_interval, subscription.billing_interval_count)
    lines = [
        PreviewLineOut(
            product_name=line.name,
            quantity=line.quantity,
            unit_amount_atom=line.unit_amount_atom,
            amount_atom=line.amount_atom,
            currency=preview.currency,
            period_start=line.period_start or preview.period_start,
            period_end=line.period_end or preview.period_end,
            recurring_interval=interval[0],
            recurring_interval_count=interval[1],
            price_id=line.price_id,
        )
        for line in preview.lines
    ]
    upcoming = InvoicePreviewOut(
        line_items=lines,
        subtotal_atom=preview.subtotal_atom,
        discount_atom=preview.discount_atom,
        total_excluding_tax_atom=preview.total_atom,
        total_atom=preview.total_atom,
        currency=preview.currency,
        period_start=preview.period_start,
        period_end=preview.period_end,
        finalized_date=preview.period_start,
        due_date=preview.due_date,
    )
    return PreviewOut(
        subscription=SubscriptionOut.of(subscription, expand=EXPANDABLE),
        upcoming_invoice=upcoming,
        proration=ProrationOut.of(proration) if proration is not None else None,
    )


class RenewOut(ResponseModel):
    """The SDK's ``SubscriptionRenewResponse``, plus the invoice's state after its charge."""

    subscription_id: str
    invoice_id: str
    invoice_status: str


@router.post("/{subscription_id}/renew")
async def renew_subscription(
    account_id: AccountId, subscription_id: str, session: Session, gateway: PaymentGateway
) -> RenewOut:
    """Bill the next period now and charge it; a period already billed is a 409."""
    # As for create: no transaction of the request's may be open across the processor call.
    await session.commit()
    invoice = await renewals.renew_subscription(gateway, account_id, subscription_id)
    return RenewOut(subscription_id=subscription_id, invoice_id=invoice.id, invoice_status=invoice.status)


InvoiceListQuery = Annotated[ListParams, Depends(list_query(invoices.LIST_SPEC))]


@router.get("/{subscription_id}/invoices")
async def get_subscription_invoices(
    account_id: AccountId,
    subscription_id: str,
    params: InvoiceListQuery,
    session: Session,
    include_items: bool = False,
    include_payments: bool = False,
) -> PageOut[InvoiceOut]:
    """The subscription's invoices, newest first, as the SDK's ``Invoice``: items and the payments that paid each
    only when asked for."""
    await subscriptions.get_subscription(session, account_id, subscription_id)
    page = await invoices.list_invoices(session, account_id, params, subscription_id=subscription_id)
    related = await collection.invoice_related(session, account_id, page.items)
    items = [InvoiceOut.of(i, related, items=include_items, payments=include_payments) for i in page.items]
    return PageOut[InvoiceOut].of(page, items)


class LifecycleStepOut(ResponseModel):
    """The SDK's ``CreateRenewalInvoiceResponse`` and ``NotifyTrialEndingResponse``."""

    status: str
    subscription_id: str
    invoice_id: str | None = None
    reason: str | None = None


@router.post("/{subscription_id}/create-renewal-invoice")
async def create_renewal_invoice(account_id: AccountId, subscription_id: str, session: Session) -> LifecycleStepOut:
    """The next period's invoice made ahead of time, left open for the renewal to collect."""
    result, invoice, reason = await renewals.create_renewal_invoice(session, account_id, subscription_id)
    invoice_id = invoice.id if invoice is not None else None
    return LifecycleStepOut(status=result, subscription_id=subscription_id, invoice_id=invoice_id, reason=reason)


@router.post("/{subscription_id}/notify-trial-ending")
async def notify_trial_ending(account_id: AccountId, subscription_id: str, session: Session) -> LifecycleStepOut:
    """Records ``subscription.trial_will_end`` once per trial; a second call is ``skipped``."""
    already = (await subscriptions.get_subscription(session, account_id, subscription_id)).trial_ending_notified_at
    await renewals.notify_trial_ending(session, account_id, subscription_id)
    if already is not None:
        return LifecycleStepOut(status="skipped", subscription_id=subscription_id, reason="already notified")
    return LifecycleStepOut(status="notified", subscription_id=subscription_id)


class DunningEndIn(WireModel):
    dunning_behavior: Annotated[str, Field(max_length=64)] = Field(
        description="Accepted for the SDK; what happens is what the operator's dunning settings say."
    )
    reason: Annotated[str, Field(max_length=500)] | None = None
    invoice_id: ObjectId | None = None


@router.post("/{subscription_id}/apply-dunning-end-behavior")
async def apply_dunning_end_behavior(
    account_id: AccountId, subscription_id: str, body: DunningEndIn, session: Session, request: Request
) -> SubscriptionOut:
    """End a past-due subscription's dunning now, as its last failed retry would."""
    policy = request.app.state.settings
    if body.dunning_behavior != lifecycle.dunning_behavior(policy):
        raise BusinessRuleViolation(
            f"dunning_behavior must be {lifecycle.dunning_behavior(policy)!r}, as this server's settings say.",
            code="dunning_behavior_mismatch",
        )
    subscription = await renewals.apply_dunning_end_behavior(
        session, account_id, subscription_id, policy=DunningPolicy.of(policy)
    )
    return SubscriptionOut.of(subscription, expand=EXPANDABLE)


class PayInvoicesIn(WireModel):
    account_id: ObjectId
    customer_id: ObjectId
    payment_intent_ids: Annotated[list[ObjectId], Field(max_length=100)]
    invoice_ids: Annotated[list[ObjectId], Field(max_length=100)] | None = None


@router.post("/pay-multiple-invoices")
async def pay_multiple_invoices(account_id: AccountId, body: PayInvoicesIn) -> None:
    """Not served: paying invoices with payments made elsewhere needs payment allocations, which Checkstand does not
    keep. Each invoice is collected on its own (renewals and dunning retries)."""
    raise BusinessRuleViolation(
        "Paying several invoices with separate payment intents is not supported; invoices are collected one by one.",
        code="not_supported",
    )
