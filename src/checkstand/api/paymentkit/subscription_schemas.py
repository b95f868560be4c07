"""The wire schemas of the ``subscriptions/`` router (:mod:`.subscriptions`): what the SDK's subscriptions client
sends and what it parses (its ``SubscriptionResponse``, ``InvoicePreview`` and the lifecycle steps' answers), each
response built from the domain's object by its ``of``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final, Literal

from pydantic import AwareDatetime, Field, TypeAdapter, ValidationError

from checkstand.api.http.validation import invalid_request
from checkstand.api.paymentkit.common import NOT_SUPPORTED_YET, Metadata, PageOut, ResponseModel, WireModel
from checkstand.api.paymentkit.customers import Currency, CustomerOut
from checkstand.api.paymentkit.payment_methods import PaymentMethodOut
from checkstand.api.paymentkit.products import PriceOut
from checkstand.invoices.renewal import InvoicePreview
from checkstand.payments.plan_changes import ItemsChanged, SubscriptionPreview
from checkstand.subscriptions import changes, creation
from checkstand.subscriptions.models import Subscription
from checkstand.subscriptions.proration import Proration

# custom_fields is the one optional part; the others are always included and accepted so the SDK may ask for them.
EXPANDABLE: Final = frozenset({"custom_fields", "customer", "items", "items.price", "payment_method"})


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
    amount_atom: int = Field(
        description="What the item bills per period: the unit amount times the quantity, or a tiered or package "
        "price's amount for the whole quantity (its unit_amount_atom is 0 when tiered)."
    )
    description: str | None


class SubscriptionOut(ResponseModel):
    """The SDK's ``SubscriptionResponse``, plus Stripe's fields it lacks (interval, cancellation, the coupon terms
    and the saved payment method's reference) and the contract term's end."""

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
    contract_term_end: datetime | None = Field(
        description="The end of the contract term the current period belongs to, while its prices commit it to a "
        "term (contract_term_multiple) or end it (auto_renew false); null for a plain or ended subscription. Terms "
        "are counted from the first paid period's start."
    )

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
            items=[SubscriptionItemOut.model_validate(item) for item in subscription.items_snapshot()],
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
            contract_term_end=subscription.contract_term_end(),
        )


def _payment_method(subscription: Subscription) -> PaymentMethodOut | None:
    """The saved payment method renewals charge, as the SDK's ``PaymentMethod`` (the event's snapshot embeds the
    same)."""
    method = subscription.payment_method_snapshot()
    return None if method is None else PaymentMethodOut.model_validate(method)


SubscriptionPage = PageOut[SubscriptionOut]


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

    def change(self) -> changes.ItemChange:
        return changes.ItemChange(self.id, self.price_id, self.quantity, bool(self.deleted))


Effective = Literal["now", "period_end"]


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
    effective: Effective | None = Field(
        default=None,
        description="Checkstand's extra: 'period_end' schedules the change for the current period's end (nothing "
        "invoiced now, the renewal bills the new plan; only with proration_behavior 'none'); 'now' (the default) "
        "applies it at once. Any later change replaces a scheduled one.",
    )

    def item_changes(self) -> list[changes.ItemChange]:
        return [item.change() for item in self.items]


class PauseIn(WireModel):
    resumes_at: AwareDatetime | None = Field(default=None, description="When collection resumes by itself.")


# --- Responses ------------------------------------------------------------------------------------------------------


class UpdateSubscriptionOut(ResponseModel):
    """The SDK's ``UpdateSubscriptionResponse``, plus the subscription as it now is."""

    subscription_id: str
    updated_fields: list[str]
    lifecycle_triggered: bool
    subscription: SubscriptionOut

    @classmethod
    def of(cls, subscription: Subscription, updated: list[str]) -> UpdateSubscriptionOut:
        return cls(
            subscription_id=subscription.id,
            updated_fields=updated,
            lifecycle_triggered=changes.touches_lifecycle(updated),
            subscription=SubscriptionOut.of(subscription, expand=EXPANDABLE),
        )


class UpdateItemsOut(ResponseModel):
    """The SDK's ``UpdateSubscriptionItemsResponse``: with no proration nothing is invoiced or charged now."""

    subscription_id: str
    invoice_id: str | None = None
    payment_status: str | None = None
    payment_error: str | None = None
    floating_items_created: int = 0
    proration_amount_atom: int = 0
    subscription: SubscriptionOut

    @classmethod
    def of(cls, changed: ItemsChanged) -> UpdateItemsOut:
        return cls(
            subscription_id=changed.subscription.id,
            invoice_id=changed.invoice_id,
            payment_status=changed.payment_status,
            payment_error=changed.payment_error,
            floating_items_created=changed.floating_items_created,
            proration_amount_atom=changed.proration_amount_atom,
            subscription=SubscriptionOut.of(changed.subscription, expand=EXPANDABLE),
        )


class NextActionOut(ResponseModel):
    """The SDK's ``NextActionResponse``."""

    action: str
    reason: str | None
    at: datetime | None
    invoice_id: str | None
    dunning_behavior: str | None


class ActivationOut(ResponseModel):
    """The SDK's ``SubscriptionActivationResult`` (``from_workflow=true``)."""

    status: str
    subscription_id: str
    reason: str | None


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

    @classmethod
    def of(cls, preview: InvoicePreview) -> InvoicePreviewOut:
        """No tax is computed, and a renewal invoice is finalized as its period starts."""
        return cls(
            line_items=[PreviewLineOut.model_validate(line, from_attributes=True) for line in preview.line_items],
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

    @classmethod
    def of(cls, preview: SubscriptionPreview) -> PreviewOut:
        return cls(
            subscription=SubscriptionOut.of(preview.subscription, expand=EXPANDABLE),
            upcoming_invoice=InvoicePreviewOut.of(preview.invoice),
            proration=ProrationOut.of(preview.proration) if preview.proration is not None else None,
        )


PROPOSED_ITEMS: Final = TypeAdapter(list[ItemChangeIn])


def proposed_items(items: str | None) -> list[changes.ItemChange] | None:
    """The preview's ``items`` query parameter (a JSON list, as ``update_subscription_items`` takes its items): a
    query string is not parsed by a schema, so a bad one is refused here, where it was sent."""
    if items is None:
        return None
    try:
        proposed = PROPOSED_ITEMS.validate_json(items)
    except ValidationError as error:
        reason = error.errors()[0]["msg"]
        raise invalid_request(("query", "items"), f"not a JSON list of item changes: {reason}") from None
    return [change.change() for change in proposed]


class RenewOut(ResponseModel):
    """The SDK's ``SubscriptionRenewResponse``, plus the invoice's state after its charge."""

    subscription_id: str
    invoice_id: str
    invoice_status: str


class LifecycleStepOut(ResponseModel):
    """The SDK's ``CreateRenewalInvoiceResponse`` and ``NotifyTrialEndingResponse``."""

    status: str
    subscription_id: str
    invoice_id: str | None = None
    reason: str | None = None


class DunningEndIn(WireModel):
    dunning_behavior: Annotated[str, Field(max_length=64)] = Field(
        description="Accepted for the SDK; what happens is what the operator's dunning settings say."
    )
    reason: Annotated[str, Field(max_length=500)] | None = None
    invoice_id: ObjectId | None = None


class PayInvoicesIn(WireModel):
    account_id: ObjectId
    customer_id: ObjectId
    payment_intent_ids: Annotated[list[ObjectId], Field(max_length=100)]
    invoice_ids: Annotated[list[ObjectId], Field(max_length=100)] | None = None
