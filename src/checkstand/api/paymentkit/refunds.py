"""``payments/refunds/``: the SDK's ``RefundResponse``. A refund gives back all or part of one charge (the SDK's
payment attempt, whose id ``payment_attempt_external_id`` and ``charge_id`` both name) through the processor that
took it; see :mod:`checkstand.payments.refunds` for why the sum of refunds never passes the charge."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, status
from pydantic import Field

from checkstand.api.http.auth import AccountId
from checkstand.api.http.gateway import PaymentGateway
from checkstand.api.http.query import list_query
from checkstand.api.http.unit_of_work import Session
from checkstand.api.paymentkit.common import CURRENCY_SCHEMA, Metadata, PageOut, ResponseModel, WireModel
from checkstand.core.listing import ListParams
from checkstand.core.money import MAX_AMOUNT_ATOM
from checkstand.payments import refunds
from checkstand.payments.models import Refund

router = APIRouter(prefix="/api/{account_id}/payments/refunds", tags=["payments-refunds"])

RefundListQuery = Annotated[ListParams, Depends(list_query(refunds.REFUND_LIST))]

RefundReason = Literal[
    "manual", "duplicate", "fraudulent", "requested_by_customer", "expired_uncaptured_charge", "manual_out_of_band"
]


class RefundCreate(WireModel):
    payment_attempt_external_id: Annotated[str, Field(min_length=1, max_length=64)]
    amount_atom: Annotated[int, Field(ge=1, le=MAX_AMOUNT_ATOM)] | None = None
    currency: Annotated[str, Field(min_length=3, max_length=3), CURRENCY_SCHEMA] | None = None
    reason: RefundReason | None = None
    metadata: Metadata | None = None
    refunded_out_of_band: bool | None = None

    def to_spec(self) -> refunds.NewRefund:
        return refunds.NewRefund(
            charge_id=self.payment_attempt_external_id,
            amount_atom=self.amount_atom,
            currency=self.currency,
            reason=self.reason,
            metadata=self.metadata or {},
            refunded_out_of_band=bool(self.refunded_out_of_band),
        )


class RefundOut(ResponseModel):
    id: str
    account_id: str
    charge_id: str
    payment_intent_id: str
    amount_atom: int
    currency: str
    status: str
    reason: str | None
    processor_refund_id: str | None
    failure_code: str | None
    failure_message: str | None
    processed_at: datetime | None
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, refund: Refund) -> RefundOut:
        return cls(
            id=refund.id,
            account_id=refund.account_id,
            charge_id=refund.charge_id,
            payment_intent_id=refund.payment_id,
            amount_atom=refund.amount_atom,
            currency=refund.currency,
            status=refund.status,
            reason=refund.reason,
            processor_refund_id=refund.processor_refund_id,
            failure_code=refund.failure_code,
            failure_message=refund.failure_message,
            processed_at=refund.processed_at,
            metadata=refund.refund_metadata,
            created_at=refund.created_at,
            updated_at=refund.updated_at,
        )


@router.post("/", status_code=status.HTTP_201_CREATED)
async def create_refund(
    account_id: AccountId, body: RefundCreate, session: Session, gateway: PaymentGateway
) -> RefundOut:
    """Full when ``amount_atom`` is left out. Answers the refund as it stands after the processor's answer:
    ``succeeded``, ``failed`` (refused; nothing given back), or ``pending`` (settled later by the worker). More than
    is left to refund is a 422 at ``amount_atom``."""
    # The refund commits before the processor call and settles after it, in transactions of its own: the read that
    # checked the key must not hold one (on SQLite, the write lock) across the call.
    await session.commit()
    return RefundOut.of(await refunds.create_refund(gateway, account_id, body.to_spec()))


@router.get("/by_charge/{charge_id}")
async def list_refunds_by_charge(
    account_id: AccountId, charge_id: str, params: RefundListQuery, session: Session
) -> PageOut[RefundOut]:
    """``filter`` takes ``status``, ``reason`` and ``currency``."""
    page = await refunds.list_refunds_of_charge(session, account_id, charge_id, params)
    return PageOut[RefundOut].of(page, [RefundOut.of(refund) for refund in page.items])


@router.get("/by_attempt/{payment_attempt_external_id}")
async def list_refunds_by_attempt(
    account_id: AccountId, payment_attempt_external_id: str, session: Session
) -> list[RefundOut]:
    """Every refund of the payment attempt (charge), newest first, unpaged as the SDK reads it."""
    found = await refunds.refunds_of_charge(session, account_id, payment_attempt_external_id)
    return [RefundOut.of(refund) for refund in found]


@router.get("/{refund_id}")
async def get_refund(account_id: AccountId, refund_id: str, session: Session) -> RefundOut:
    return RefundOut.of(await refunds.get_refund(session, account_id, refund_id))
