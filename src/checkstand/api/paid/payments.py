"""Paid's ``payments``: the same payments the PaymentKit dialect lists as payment intents (a checkout's, an
invoice's collection), in Paid's shape: ``amount`` in minor units, ``posted`` once succeeded, the order it paid
(``orderId``: the subscription's, or the one-time purchase's). ``number`` is the payment's place among the account's
payments, in the order they were made. Recording a payment made elsewhere (``create_payment``) is not served: a
payment here is money a processor took."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Path, Query

from checkstand.api.http.unit_of_work import Session
from checkstand.api.paid import ids
from checkstand.api.paid.wire import AccountId, PaidList, PaidModel, PaidPageParams
from checkstand.core.errors import BusinessRuleViolation
from checkstand.payments import ledger
from checkstand.payments.customer_scope import CustomerScope
from checkstand.payments.models import FAILED, PROCESSING, REQUIRES_ACTION, SUCCEEDED

router = APIRouter(prefix="/payments", tags=["paid: payments"])

PaidStatus = Literal["draft", "posted", "processing", "requiresAction", "failed", "canceled"]
_STATUSES: Final[dict[str, PaidStatus]] = {
    SUCCEEDED: "posted",
    PROCESSING: "processing",
    REQUIRES_ACTION: "requiresAction",
    FAILED: "failed",
}
_BY_PAID_STATUS: Final = {paid: ours for ours, paid in _STATUSES.items()}
FilterId = Annotated[str | None, Query(min_length=1, max_length=255)]


class PaymentOut(PaidModel):
    """The SDK's ``Payment``. A payment pays its invoice whole (``allocatedAmount``) once posted."""

    id: str
    number: int
    customer_id: str
    invoice_id: str | None
    order_id: str | None
    amount: int
    allocated_amount: int
    balance: int
    currency: str
    payment_date: datetime
    payment_type: str = "creditCard"
    status: PaidStatus
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, numbered: ledger.NumberedPayment) -> PaymentOut:
        payment = numbered.payment
        allocated = payment.amount_atom if payment.invoice_id is not None and payment.status == SUCCEEDED else 0
        return cls(
            id=payment.id,
            number=numbered.number,
            customer_id=payment.customer_id,
            invoice_id=payment.invoice_id,
            order_id=ids.row_order_id(numbered.order_row_id) if numbered.order_row_id is not None else None,
            amount=payment.amount_atom,
            allocated_amount=allocated,
            balance=payment.amount_atom - allocated,
            currency=payment.currency.upper(),
            payment_date=payment.confirmed_at or payment.created_at,
            status=_STATUSES.get(payment.status, "processing"),
            metadata=dict(payment.payment_metadata),
            created_at=payment.created_at,
            updated_at=payment.updated_at,
        )


@router.get("/")
async def list_payments(
    account_id: AccountId,
    page: PaidPageParams,
    session: Session,
    customer_id: Annotated[FilterId, Query(alias="customerId")] = None,
    external_customer_id: Annotated[FilterId, Query(alias="externalCustomerId")] = None,
    status: PaidStatus | None = None,
) -> PaidList[PaymentOut]:
    """Newest first. Checkstand makes no draft or canceled payment: those statuses find none."""
    scope = CustomerScope(customer_id, external_customer_id)
    # A status Checkstand has no payment in (draft, canceled) is asked as it is: it matches nothing.
    ours = _BY_PAID_STATUS.get(status, status) if status is not None else None
    found = await ledger.list_numbered_payments(session, account_id, scope, ours, page)
    return PaidList.of(found, [PaymentOut.of(numbered) for numbered in found.items])


@router.post("/")
async def create_payment(account_id: AccountId) -> PaymentOut:
    """Not served: a payment is money a processor took, for a checkout or an invoice."""
    raise BusinessRuleViolation(
        "Payments are made by checkouts and invoices' collection; recording one made elsewhere is not supported.",
        code="not_supported",
    )


@router.get("/{payment_id}")
async def get_payment(
    account_id: AccountId,
    payment_id: Annotated[str, Path(min_length=1, max_length=64)],
    session: Session,
) -> PaymentOut:
    return PaymentOut.of(await ledger.get_numbered_payment(session, account_id, payment_id))
