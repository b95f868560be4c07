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


@dataclass(frozen=True)
class ChargeResult:
    outcome: Outcome
    processor_reference: str | None = None
    decline_code: str | None = None
    # The customer's challenge page, with ``requires_action``.
    action_url: str | None = None
    # The saved payment method for renewals, when asked for and the charge succeeded.
    saved_payment_method: str | None = None
    # The processor's own words, for the merchant's logs; never shown to the customer.
    processor_message: str | None = None

    @property
    def retryable(self) -> bool:
        """Whether the next processor of a route may be tried."""
        return self.outcome is Outcome.UNAVAILABLE or self.decline_code in RETRYABLE


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
        """The result of a charge that required action, once the customer has acted."""
        ...
