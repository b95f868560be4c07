"""``checkout-attempts/``: what happened when customers paid, for the merchant: every processor attempt with its
disposition and decline, and every state transition with its time. Read-only; attempts are made by the public
checkout API. Payments appear in events only (the SDK has no payments resource): see ``Payment.snapshot``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends

from checkstand.api.http.auth import AccountId
from checkstand.api.http.query import expand_query, list_query
from checkstand.api.http.unit_of_work import Session
from checkstand.api.paymentkit.common import PageOut, ResponseModel
from checkstand.core.listing import ListParams
from checkstand.payments import service as attempts_service
from checkstand.payments.models import SETUP_NOT_REQUESTED, AttemptTransition, CheckoutAttempt, ProcessorAttempt

router = APIRouter(prefix="/api/{account_id}/checkout-attempts", tags=["checkout-attempts"])

Expand = Annotated[frozenset[str], Depends(expand_query("processor_attempts"))]


class ProcessorAttemptSummaryOut(ResponseModel):
    processor_id: str
    processor_name: str
    disposition: str
    charge_status: str
    charge_error_message: str | None
    setup_status: str
    setup_error_message: str | None = None
    payment_attempt_id: str | None
    payment_method_id: str | None
    tier: int
    amount_atom: int
    currency: str
    decline_code: str | None
    skip_reason: str | None

    @classmethod
    def of(cls, attempt: ProcessorAttempt) -> ProcessorAttemptSummaryOut:
        return cls(
            processor_id=attempt.processor_id,
            processor_name=attempt.processor_name,
            disposition=attempt.disposition,
            charge_status=SETUP_NOT_REQUESTED if attempt.is_setup else attempt.charge_status,
            charge_error_message=None if attempt.is_setup else attempt.processor_message,
            setup_status=attempt.setup_status(),
            setup_error_message=attempt.processor_message if attempt.is_setup else None,
            payment_attempt_id=attempt.id,
            payment_method_id=attempt.saved_payment_method,
            tier=attempt.tier,
            amount_atom=attempt.amount_atom,
            currency=attempt.currency,
            decline_code=attempt.decline_code,
            skip_reason=attempt.skip_reason,
        )


class ProcessorAttemptDetailOut(ProcessorAttemptSummaryOut):
    processor_reference: str | None
    created_at: str
    updated_at: str

    @classmethod
    def of(cls, attempt: ProcessorAttempt) -> ProcessorAttemptDetailOut:
        return cls(
            **ProcessorAttemptSummaryOut.of(attempt).model_dump(),
            processor_reference=attempt.processor_reference,
            created_at=attempt.created_at.isoformat(),
            updated_at=attempt.updated_at.isoformat(),
        )


class CheckoutAttemptOut(ResponseModel):
    id: str
    checkout_session_id: str
    customer_id: str | None
    payment_intent_id: str | None
    state: str
    error_message_for_customer: str | None
    error_message_for_debug: str | None
    decline_code: str | None
    submitted_customer_info: dict[str, Any]
    fraud_metadata: dict[str, Any]
    attempt_metadata: dict[str, Any] | None
    tier: int
    created_at: datetime
    updated_at: datetime
    invoice_id: str | None = None
    subscription_id: str | None
    payment_method_id: str | None
    card_checkout_attempt_id: str
    card_checkout_attempt_state: str
    processor_attempts: list[ProcessorAttemptSummaryOut] | None

    @classmethod
    def of(cls, attempt: CheckoutAttempt, *, expand_processor_attempts: bool = True) -> CheckoutAttemptOut:
        return cls(
            id=attempt.id,
            checkout_session_id=attempt.checkout_session_id,
            customer_id=attempt.customer_id,
            payment_intent_id=attempt.charged_reference(),
            state=attempt.state,
            error_message_for_customer=attempt.error_message_for_customer,
            error_message_for_debug=attempt.error_message_for_debug,
            decline_code=attempt.decline_code,
            submitted_customer_info=attempt.submitted_customer_info,
            fraud_metadata={"client_ip": attempt.client_ip} if attempt.client_ip else {},
            attempt_metadata=None,
            tier=attempt.tier,
            created_at=attempt.created_at,
            updated_at=attempt.updated_at,
            subscription_id=attempt.subscription_id,
            payment_method_id=attempt.saved_payment_method,
            # Checkstand's only kind of attempt is a card attempt, so the card attempt is the attempt itself.
            card_checkout_attempt_id=attempt.id,
            card_checkout_attempt_state=attempt.state,
            processor_attempts=(
                [ProcessorAttemptSummaryOut.of(p) for p in attempt.processor_attempts]
                if expand_processor_attempts
                else None
            ),
        )


class CheckoutAttemptDetailsOut(ResponseModel):
    checkout_attempt_id: str
    checkout_session_id: str
    payment_intent_id: str | None
    state: str
    error_message_for_customer: str | None
    error_message_for_debug: str | None
    card_checkout_attempt_id: str
    card_checkout_attempt_state: str
    processor_attempts: list[ProcessorAttemptDetailOut]


class TransitionOut(ResponseModel):
    id: str
    from_state: str
    to_state: str
    context: dict[str, Any] | None
    created_at: datetime

    @classmethod
    def of(cls, transition: AttemptTransition) -> TransitionOut:
        return cls.model_validate(transition)


class TransitionsOut(ResponseModel):
    card_checkout_attempt_id: str
    transitions: list[TransitionOut]


# --- Endpoints ------------------------------------------------------------------------------------------------------


AttemptListQuery = Annotated[ListParams, Depends(list_query(attempts_service.ATTEMPT_LIST))]


@router.get("/")
async def list_checkout_attempts(
    account_id: AccountId, params: AttemptListQuery, session: Session, expand: Expand
) -> PageOut[CheckoutAttemptOut]:
    """Newest first; ``filter`` takes ``checkout_session_id`` and ``state``."""
    page = await attempts_service.list_attempts(session, account_id, params)
    expanded = "processor_attempts" in expand
    items = [CheckoutAttemptOut.of(a, expand_processor_attempts=expanded) for a in page.items]
    return PageOut[CheckoutAttemptOut].of(page, items)


@router.get("/{checkout_attempt_id}")
async def get_checkout_attempt(
    account_id: AccountId, checkout_attempt_id: str, session: Session, expand: Expand
) -> CheckoutAttemptOut:
    attempt = await attempts_service.get_attempt(session, account_id, checkout_attempt_id)
    return CheckoutAttemptOut.of(attempt, expand_processor_attempts="processor_attempts" in expand)


@router.get("/{checkout_attempt_id}/details")
async def get_checkout_attempt_details(
    account_id: AccountId, checkout_attempt_id: str, session: Session
) -> CheckoutAttemptDetailsOut:
    attempt = await attempts_service.get_attempt(session, account_id, checkout_attempt_id)
    return CheckoutAttemptDetailsOut(
        checkout_attempt_id=attempt.id,
        checkout_session_id=attempt.checkout_session_id,
        payment_intent_id=attempt.charged_reference(),
        state=attempt.state,
        error_message_for_customer=attempt.error_message_for_customer,
        error_message_for_debug=attempt.error_message_for_debug,
        card_checkout_attempt_id=attempt.id,
        card_checkout_attempt_state=attempt.state,
        processor_attempts=[ProcessorAttemptDetailOut.of(p) for p in attempt.processor_attempts],
    )


@router.get("/{checkout_attempt_id}/state-transitions")
async def get_state_transitions(account_id: AccountId, checkout_attempt_id: str, session: Session) -> TransitionsOut:
    attempt = await attempts_service.get_attempt(session, account_id, checkout_attempt_id)
    return TransitionsOut(
        card_checkout_attempt_id=attempt.id, transitions=[TransitionOut.of(t) for t in attempt.transitions]
    )
