"""``payments/payment_attempts/``: the SDK's ``PaymentAttempt``, one per processor call of a payment (a
:class:`~checkstand.payments.models.PaymentCharge`); a checkout payment's one attempt is the processor attempt that
took the money. Its id is what refunds name."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, status
from pydantic import Field

from checkstand.api.http.auth import AccountId
from checkstand.api.http.gateway import PaymentGateway
from checkstand.api.http.query import list_query
from checkstand.api.http.unit_of_work import Session
from checkstand.api.paymentkit.common import CURRENCY_SCHEMA, PageOut, ResponseModel, WireModel
from checkstand.core.listing import ListParams
from checkstand.core.money import MAX_AMOUNT_ATOM
from checkstand.payments import collection, ledger
from checkstand.payments.models import Payment, PaymentCharge

router = APIRouter(prefix="/api/{account_id}/payments/payment_attempts", tags=["payments-payment-attempts"])

AttemptListQuery = Annotated[ListParams, Depends(list_query(ledger.CHARGE_LIST))]


class PaymentAttemptOut(ResponseModel):
    id: str
    account_id: str
    payment_intent_id: str
    # The saved payment method, else the processor's own reference of what paid; "" for a card never kept.
    payment_method_id: str
    processor_id: str
    customer_id: str
    amount_atom: int
    # Checkstand takes no fee of its own.
    provider_type_fee_amount_atom: int = 0
    currency: str
    status: str
    failure_code: str | None
    failure_message: str | None
    is_soft_decline: bool | None = None
    processor_metadata: dict[str, Any] | None
    captured_at: datetime | None
    metadata: dict[str, Any] | None = None
    refunded_amount_atom: int
    refunded: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, charge: PaymentCharge, payment: Payment) -> PaymentAttemptOut:
        """``refunded_amount_atom`` counts refunds being made as well as made: what can no longer be refunded."""
        return cls(
            id=charge.id,
            account_id=charge.account_id,
            payment_intent_id=charge.payment_id,
            payment_method_id=charge.payment_method_id
            or payment.payment_method_id
            or payment.payment_method_reference
            or "",
            processor_id=charge.processor_id,
            customer_id=charge.customer_id,
            amount_atom=charge.amount_atom,
            currency=charge.currency,
            status=charge.status,
            failure_code=charge.decline_code,
            failure_message=charge.failure_message,
            processor_metadata={"processor_reference": charge.processor_reference}
            if charge.processor_reference
            else None,
            captured_at=charge.captured_at,
            refunded_amount_atom=charge.amount_refunded_atom,
            refunded=charge.amount_refunded_atom >= charge.amount_atom > 0,
            created_at=charge.created_at,
            updated_at=charge.updated_at,
        )


class PaymentAttemptCreate(WireModel):
    """The SDK's ``create_payment_attempt`` body: the amount and currency restate the payment intent's own (an
    attempt charges all of it); ``metadata`` is refused, as attempts keep none."""

    payment_intent_external_id: Annotated[str, Field(min_length=1, max_length=64)]
    amount_atom: Annotated[int, Field(ge=1, le=MAX_AMOUNT_ATOM)]
    currency: Annotated[str, Field(min_length=3, max_length=3), CURRENCY_SCHEMA]
    metadata: dict[str, Any] | None = None


@router.post("/", status_code=status.HTTP_201_CREATED)
async def create_payment_attempt(
    account_id: AccountId, body: PaymentAttemptCreate, session: Session, gateway: PaymentGateway
) -> PaymentAttemptOut:
    """Charge a failed payment intent (an invoice's collection, or the merchant's own) once more, off-session, on
    the saved method it is charged on now: its subscription's default (a card replaced meanwhile) or its own. A paid
    intent, one being charged, or a checkout's is a 409; an intent with no saved method a 422."""
    # As confirm: the charge commits before the processor call and settles after it, in transactions of its own.
    await session.commit()
    charge, payment = await collection.create_attempt(
        gateway,
        account_id,
        collection.NewAttempt(body.payment_intent_external_id, body.amount_atom, body.currency, body.metadata),
    )
    return PaymentAttemptOut.of(charge, payment)


@router.get("/by_intent/{payment_intent_external_id}")
async def list_attempts_by_intent(
    account_id: AccountId, payment_intent_external_id: str, params: AttemptListQuery, session: Session
) -> PageOut[PaymentAttemptOut]:
    """``filter`` takes ``status``."""
    payment = await ledger.get_payment(session, account_id, payment_intent_external_id)
    page = await ledger.list_charges_of_payment(session, account_id, payment.id, params)
    return PageOut[PaymentAttemptOut].of(page, [PaymentAttemptOut.of(charge, payment) for charge in page.items])
