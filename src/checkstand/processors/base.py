"""The one small interface every payment processor adapter implements.

The payment flow (checkout attempts) records an attempt with its idempotency key *before* calling a processor, and
calls again with the same key to learn the outcome after a crash: an adapter must therefore return the same result
for the same key and never charge twice, as Stripe's idempotency keys guarantee.

Outcomes are deliberately few. ``declined`` is the customer's bank saying no (a business decision: never retried
silently); ``unavailable`` is the processor not answering or failing on its side (safe to try the next processor);
``requires_action`` means the customer must act first (3-D Secure), after which :meth:`Processor.confirm` settles it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class Outcome(StrEnum):
    SUCCEEDED = "succeeded"
    DECLINED = "declined"
    REQUIRES_ACTION = "requires_action"
    UNAVAILABLE = "unavailable"


class DeclineCode(StrEnum):
    """Stripe's decline codes, which the simulator produces and the Stripe adapter passes through."""

    GENERIC_DECLINE = "generic_decline"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    LOST_CARD = "lost_card"
    STOLEN_CARD = "stolen_card"
    EXPIRED_CARD = "expired_card"
    INCORRECT_CVC = "incorrect_cvc"
    INCORRECT_NUMBER = "incorrect_number"
    PROCESSING_ERROR = "processing_error"
    AUTHENTICATION_FAILED = "authentication_failed"


# Declines another attempt may fix: a smaller amount (cascade pricing) or another processor. The others are about
# the card itself, and no amount or processor changes them.
AMOUNT_MAY_FIX = frozenset({DeclineCode.GENERIC_DECLINE, DeclineCode.INSUFFICIENT_FUNDS})
RETRYABLE = frozenset({DeclineCode.PROCESSING_ERROR})

CUSTOMER_MESSAGES: dict[str, str] = {
    DeclineCode.GENERIC_DECLINE: "Your card was declined.",
    DeclineCode.INSUFFICIENT_FUNDS: "Your card has insufficient funds.",
    DeclineCode.LOST_CARD: "Your card was declined.",
    DeclineCode.STOLEN_CARD: "Your card was declined.",
    DeclineCode.EXPIRED_CARD: "Your card has expired.",
    DeclineCode.INCORRECT_CVC: "Your card's security code is incorrect.",
    DeclineCode.INCORRECT_NUMBER: "Your card number is incorrect.",
    DeclineCode.PROCESSING_ERROR: "An error occurred while processing your card. Try again in a little bit.",
    DeclineCode.AUTHENTICATION_FAILED: "We are unable to authenticate your payment method.",
}
# Lost and stolen cards get the generic message on purpose: telling a fraudster the card is flagged helps them.


def customer_message(decline_code: str | None) -> str:
    """What the customer may be told; never the processor's own words, which can leak internals."""
    return CUSTOMER_MESSAGES.get(decline_code or "", "Your payment could not be completed.")


@dataclass(frozen=True)
class CardDetails:
    """A card as the simulator's own form sends it (never stored: only its last four digits are kept)."""

    number: str
    exp_month: int
    exp_year: int
    cvc: str

    @property
    def last4(self) -> str:
        return self.number[-4:]


@dataclass(frozen=True)
class PaymentMethod:
    """What pays: a simulator card, or a processor's own payment method id (Stripe's ``pm_...``)."""

    card: CardDetails | None = None
    processor_reference: str | None = None


@dataclass(frozen=True)
class ChargeRequest:
    idempotency_key: str
    amount_atom: int
    currency: str
    payment_method: PaymentMethod
    description: str | None = None
    customer_email: str | None = None
    # Keep the payment method for later charges (a subscription's renewals).
    save_payment_method: bool = False
    # Where the customer comes back to after a 3-D Secure challenge.
    return_url: str | None = None
    # "first_3ds_wins" goes through a challenge when asked; "prefer_non_3ds" treats a required challenge as a reason
    # to try the next processor of the route first.
    three_ds_mode: str | None = None
    # The processor's customer a saved method belongs to (Stripe's ``cus_...``). With a saved method and no
    # ``save_payment_method`` the charge is off-session (a renewal: the customer isn't there to authenticate).
    processor_customer_reference: str | None = None


@dataclass(frozen=True)
class SaveCardRequest:
    """Vault a card the merchant's server sends (the SDK's ``create_credit_card``) without charging it, as Stripe's
    PaymentMethod attached to a Customer: nothing is authenticated now, so a 3-D Secure card is saved and its later
    charges still ask for the challenge. Answered by a :class:`ChargeResult` with ``saved_payment_method`` and
    ``saved_card`` on success, ``declined`` for a card the processor refuses."""

    idempotency_key: str
    card: CardDetails
    customer_email: str | None = None


@dataclass(frozen=True)
class SavedCard:
    """What may be shown of a saved card (never its number), and the processor's customer it is attached to."""

    brand: str
    last4: str
    exp_month: int
    exp_year: int
    processor_customer_reference: str | None = None


@dataclass(frozen=True)
class SetupRequest:
    """Save a payment method for later off-session charges without charging it (a trial: nothing is due today).
    The processor still checks the card, and a 3-D Secure card still asks for its challenge, since the customer is
    present now and won't be at the renewal. Answered by a :class:`ChargeResult` whose ``saved_payment_method`` is
    set on success. ``currency`` is the one later charges will be in (a processor that doesn't take it can't
    save the method for them)."""

    idempotency_key: str
    currency: str
    payment_method: PaymentMethod
    description: str | None = None
    customer_email: str | None = None
    return_url: str | None = None
    three_ds_mode: str | None = None


@dataclass(frozen=True)
class ChargeResult:
    outcome: Outcome
    processor_reference: str | None = None
    decline_code: str | None = None
    # The customer's challenge page, with ``requires_action``.
    action_url: str | None = None
    # The saved payment method for renewals, when asked for and the charge succeeded.
    saved_payment_method: str | None = None
    # What the processor says of that saved method: brand, last four digits, expiry.
    saved_card: SavedCard | None = None
    # The processor's own words, for the merchant's logs; never shown to the customer.
    processor_message: str | None = None

    @property
    def retryable(self) -> bool:
        """Whether the next processor of a route may be tried."""
        return self.outcome is Outcome.UNAVAILABLE or self.decline_code in RETRYABLE


class RefundOutcome(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True)
class RefundRequest:
    """Give back ``amount_atom`` of the charge the processor knows as ``processor_reference`` (the charge's own
    reference: the simulator's charge id, Stripe's PaymentIntent id)."""

    idempotency_key: str
    processor_reference: str
    amount_atom: int
    currency: str
    # The SDK's RefundReason; a processor that has no such reason is not told it.
    reason: str | None = None


@dataclass(frozen=True)
class RefundResult:
    """``failed`` is the processor refusing the refund for good (more than is left on the charge, a charge it
    doesn't know): nothing was given back. The processor's own words go to the merchant, never to a customer."""

    outcome: RefundOutcome
    processor_refund_id: str | None = None
    failure_code: str | None = None
    failure_message: str | None = None


class OutcomeUnknown(Exception):
    """The processor could not say what became of a payment (unreachable, failing, or refusing the request). Not a
    decline, and not a reason to try another processor: this one may have charged. Ask again later."""


class ProcessorAdapter(Protocol):
    async def charge(self, request: ChargeRequest) -> ChargeResult:
        """Charge once per idempotency key: a repeated key answers the first result and charges nothing more."""
        ...

    async def lookup(self, idempotency_key: str) -> ChargeResult | None:
        """The result of an earlier charge with this key, or None if the processor never received it (recovery).
        Raises :class:`OutcomeUnknown` when the processor can't be asked."""
        ...

    async def confirm(self, processor_reference: str) -> ChargeResult:
        """The result of a charge (or a setup) that required action, once the customer has acted."""
        ...

    async def setup(self, request: SetupRequest) -> ChargeResult:
        """Save the payment method without charging it, once per idempotency key as :meth:`charge` does."""
        ...

    async def lookup_setup(self, idempotency_key: str) -> ChargeResult | None:
        """The result of an earlier setup with this key, or None if the processor never received it (recovery).
        Raises :class:`OutcomeUnknown` when the processor can't be asked."""
        ...

    async def save_card(self, request: SaveCardRequest) -> ChargeResult:
        """Vault a card for later charges without charging it, once per idempotency key."""
        ...

    async def detach(self, processor_reference: str) -> None:
        """Forget a saved method at the processor, so it can't be charged again (Stripe's PaymentMethod.detach).
        Raises :class:`OutcomeUnknown` when the processor can't be asked."""
        ...

    async def refund(self, request: RefundRequest) -> RefundResult:
        """Refund once per idempotency key: a repeated key answers the first result and refunds nothing more, so a
        refund whose answer was lost is settled by asking again. Raises :class:`OutcomeUnknown` when the processor
        can't be asked or can't say (it may have refunded)."""
        ...
