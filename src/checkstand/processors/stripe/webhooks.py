"""Stripe's webhooks, inbound: a delivery's signature verified under its connection's webhook secret, the event
stored once per connection without its secrets, and an event about a PaymentIntent Checkstand created settled from
Stripe's answer now (events come in no set order), for the payment flow to apply
(:mod:`checkstand.payments.stripe_events`)."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Final

import stripe
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.core import clock
from checkstand.core.crypto import SecretBox
from checkstand.core.errors import CheckstandError, NotFound
from checkstand.core.json_depth import nests_deeper_than
from checkstand.core.lookup import one_or_not_found
from checkstand.core.nul import contains_nul
from checkstand.processors.base import ChargeResult, OutcomeUnknown
from checkstand.processors.connections import STRIPE, open_credentials
from checkstand.processors.models import Processor, StripeEvent
from checkstand.processors.stripe.adapter import StripeProcessor
from checkstand.processors.stripe.wire import METADATA_KEY, REDACTED

logger = logging.getLogger(__name__)

WEBHOOK_TOLERANCE: Final = timedelta(seconds=300)
PAYMENT_INTENT_EVENT_PREFIX: Final = "payment_intent."
# The columns of ``stripe_events`` that hold them.
MAX_EVENT_ID_LENGTH: Final = 255
MAX_EVENT_TYPE_LENGTH: Final = 100
# Keys of a Stripe object that hold a secret: a PaymentIntent's client secret confirms it from a browser.
_SECRET_FIELDS: Final = frozenset({"client_secret"})


class InvalidSignature(CheckstandError):
    """An inbound webhook whose ``Stripe-Signature`` doesn't prove it came from Stripe, or whose body isn't an event."""

    status_code = 400
    code = "invalid_signature"
    title = "Invalid signature"


class StripeUnavailable(CheckstandError):
    """Stripe can't be reached to settle an event: a 503, so Stripe delivers it again later."""

    status_code = 503
    code = "processor_unavailable"
    title = "Processor unavailable"


@dataclass(frozen=True)
class Settlement:
    """What a Stripe event means for a charge Checkstand made: the charge with ``idempotency_key`` on the event's
    connection now stands at ``result``."""

    idempotency_key: str
    result: ChargeResult


@dataclass(frozen=True)
class Receipt:
    """What receiving one delivery did. ``settlement`` is for the payment flow to apply to its attempt (see
    :func:`store_delivery`)."""

    event_id: str
    event_type: str
    duplicate: bool
    settlement: Settlement | None


@dataclass(frozen=True)
class Delivery:
    """A delivery whose signature verified: the event, and the connection it came to with the key that settles it.
    Neither the event (it may hold a client secret and customer data) nor the key shows in a repr."""

    processor_id: str
    account_id: str
    api_base: str | None
    event: dict[str, Any] = field(repr=False)
    secret_key: str = field(repr=False)

    @property
    def event_id(self) -> str:
        return str(self.event["id"])

    @property
    def event_type(self) -> str:
        return str(self.event["type"])


async def settlement_for(adapter: StripeProcessor, event: Mapping[str, Any]) -> Settlement | None:
    """The settle hook: for an event about a PaymentIntent Checkstand created, the PaymentIntent's result as Stripe
    has it now. Read from Stripe rather than from the event, because Stripe delivers events in no set order and
    an older snapshot (``requires_action``) must not undo a newer state (``succeeded``). None for any other event.
    Raises :class:`OutcomeUnknown` when Stripe can't be asked."""
    if not str(event.get("type", "")).startswith(PAYMENT_INTENT_EVENT_PREFIX):
        return None
    intent = (event.get("data") or {}).get("object") or {}
    key = (intent.get("metadata") or {}).get(METADATA_KEY)
    if intent.get("object") != "payment_intent" or not isinstance(key, str) or not isinstance(intent.get("id"), str):
        return None
    return Settlement(idempotency_key=key, result=await adapter.confirm(intent["id"]))


async def verify_delivery(
    session: AsyncSession, box: SecretBox, processor_id: str, payload: bytes, signature: str | None
) -> Delivery:
    """One delivery to a Stripe connection's webhook, verified: the signature is Stripe's (``Stripe-Signature``:
    ``t=<unix time>,v1=<HMAC-SHA256 of "<t>.<body>">``) under the connection's webhook secret, no older than
    :data:`WEBHOOK_TOLERANCE` by Checkstand's clock. Raises :class:`InvalidSignature`, or ``NotFound`` for a
    connection that has no webhook.

    Receiving is then three steps, so that Stripe is never asked inside a transaction: :func:`repeated_delivery`
    (a read), :func:`settle_delivery` (Stripe's answer, no transaction open), and :func:`store_delivery` with
    the settlement applied and :func:`mark_processed`, in one transaction."""
    processor = await _webhook_connection(session, processor_id)
    credentials = open_credentials(box, processor)
    if credentials is None:
        raise NotFound("processor", processor_id)
    event = verify_event(payload, signature, credentials.webhook_secret)
    return Delivery(processor.id, processor.account_id, processor.api_base, event, credentials.secret_key)


async def repeated_delivery(session: AsyncSession, delivery: Delivery) -> Receipt | None:
    """The receipt of an event already stored (Stripe retries, and may deliver twice), which changes nothing; None
    for a new one."""
    if await session.get(StripeEvent, (delivery.event_id, delivery.processor_id)) is None:
        return None
    return _repeat(delivery)


async def settle_delivery(delivery: Delivery, *, allow_private_urls: bool = False) -> Settlement | None:
    """The settlement of a PaymentIntent event, read from Stripe now (:func:`settlement_for`); call it with no
    transaction open. Raises :class:`StripeUnavailable` (503) when Stripe can't be asked: nothing is stored then,
    and Stripe delivers again. ``allow_private_urls``: see :class:`StripeProcessor`."""
    async with StripeProcessor(
        delivery.secret_key, delivery.api_base, allow_private_urls=allow_private_urls
    ) as adapter:
        try:
            return await settlement_for(adapter, delivery.event)
        except OutcomeUnknown as error:
            raise StripeUnavailable(f"Stripe can't be reached to settle event {delivery.event_id!r}: {error}") from None


async def store_delivery(session: AsyncSession, delivery: Delivery, settlement: Settlement | None) -> Receipt:
    """Store the event once per connection, without its secrets; a concurrent delivery of it that stored first
    makes this one a repeat. An event with nothing to settle is processed as it is stored; one with a settlement
    is marked processed (:func:`mark_processed`) by whoever applies it, in the same transaction."""
    stored = StripeEvent(
        id=delivery.event_id,
        processor_id=delivery.processor_id,
        account_id=delivery.account_id,
        type=delivery.event_type,
        payload=_redacted(delivery.event),
        received_at=clock.now(),
        processed_at=clock.now() if settlement is None else None,
    )
    try:
        # A savepoint: a concurrent delivery of the same event loses the insert, not the caller's transaction.
        async with session.begin_nested():
            session.add(stored)
    except IntegrityError:
        return _repeat(delivery)
    logger.info(
        "Stripe event %s (%s) for processor %s stored", delivery.event_id, delivery.event_type, delivery.processor_id
    )
    return Receipt(delivery.event_id, delivery.event_type, duplicate=False, settlement=settlement)


async def mark_processed(session: AsyncSession, delivery: Delivery) -> None:
    """The stored event's settlement is applied."""
    stored = await session.get(StripeEvent, (delivery.event_id, delivery.processor_id))
    if stored is not None:
        stored.processed_at = clock.now()
        await session.flush()


def _repeat(delivery: Delivery) -> Receipt:
    logger.info("Stripe event %s for processor %s received again; ignored", delivery.event_id, delivery.processor_id)
    return Receipt(delivery.event_id, delivery.event_type, duplicate=True, settlement=None)


def verify_event(payload: bytes, signature: str | None, webhook_secret: str) -> dict[str, Any]:
    """The event a delivery carries, once its signature is verified by Stripe's library (the time check is made
    against Checkstand's clock, so tests can move it). Raises :class:`InvalidSignature`."""
    try:
        stripe.WebhookSignature.verify_header(payload, signature, webhook_secret, tolerance=None)
        # Stripe's events nest a few levels; a deeper body would be a RecursionError in the parser.
        event: Any = None if nests_deeper_than(payload) else json.loads(payload)
    except (stripe.SignatureVerificationError, ValueError) as error:  # UnicodeDecodeError is a ValueError
        raise InvalidSignature(_signature_problem(error)) from None
    assert signature is not None  # verified above
    if _signed_at(signature) < (clock.now() - WEBHOOK_TOLERANCE).timestamp():
        raise InvalidSignature("The signature's timestamp is too old; a replayed delivery is refused.")
    if not _is_event(event) or contains_nul(event):
        raise InvalidSignature("The body is not a Stripe event.")
    return dict(event)


def _signed_at(signature: str) -> int:
    """The ``t=`` of a header that has verified (so it has exactly one, a whole number)."""
    return int(next(value for name, _, value in (item.partition("=") for item in signature.split(",")) if name == "t"))


def _signature_problem(error: Exception) -> str:
    # Stripe's own messages name the problem without quoting the secret; a JSON error may quote the body, so no.
    if isinstance(error, stripe.SignatureVerificationError):
        return f"Stripe-Signature doesn't verify: {error.user_message}"
    return "The body is not a Stripe event."


def _is_event(event: object) -> bool:
    if not isinstance(event, dict):
        return False
    event_id, event_type = event.get("id"), event.get("type")
    return (
        isinstance(event_id, str)
        and 0 < len(event_id) <= MAX_EVENT_ID_LENGTH
        and isinstance(event_type, str)
        and 0 < len(event_type) <= MAX_EVENT_TYPE_LENGTH
    )


def _redacted(value: Any) -> Any:
    """The event without its secrets (a PaymentIntent's ``client_secret``), as it is stored."""
    if isinstance(value, Mapping):
        return {key: REDACTED if key in _SECRET_FIELDS else _redacted(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_redacted(item) for item in value]
    return value


async def _webhook_connection(session: AsyncSession, processor_id: str) -> Processor:
    """The Stripe connection a webhook URL names. The URL carries no account: the processor id (128 random bits,
    given to Stripe's dashboard only) is what finds it, and the signature under its secret what trusts it. A
    deactivated connection still receives, since its payments in flight still settle; a deleted one does not."""
    return await one_or_not_found(
        session,
        select(Processor).where(Processor.id == processor_id, Processor.type == STRIPE, Processor.deleted_at.is_(None)),
        "processor",
        processor_id,
    )
