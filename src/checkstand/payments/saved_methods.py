"""Saving and detaching payment methods outside checkout, where a processor must be asked: the SDK's
``create_credit_card`` vaults a card at a processor, deleting a method detaches it there.

Each runs in the request's unit of work, split around the processor call as the payment flow is: what is read
first is read in a transaction that is committed (it wrote nothing) before the processor is called, so no
transaction is open during the call (on SQLite a writing request holds the database's write lock, which the
simulator's own network needs); what the processor answered is then written in a new transaction, which the
request commits with its response. A request dying after the call leaves at most a card vaulted at the processor
that nothing names, and charges nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.core.errors import FieldPath, InvalidFields, ProcessorUnavailable
from checkstand.core.ids import new_id
from checkstand.payment_methods import service as methods
from checkstand.payment_methods.models import SavedPaymentMethod
from checkstand.payments.adapters import Gateway, adapter_for
from checkstand.processors.base import DeclineCode, Outcome, OutcomeUnknown, SaveCardRequest, customer_message
from checkstand.processors.models import Processor

SAVE_KEY_PREFIX: Final = "pmsave"
# Where a processor's refusal of a card points in the request: the field the customer would fix.
_DECLINE_FIELDS: Final[Mapping[str, FieldPath]] = {
    DeclineCode.EXPIRED_CARD: ("expiry_year",),
    DeclineCode.INCORRECT_CVC: ("cvv",),
}


async def create_credit_card(
    session: AsyncSession,
    gateway: Gateway,
    account_id: str,
    *,
    customer_id: str,
    number: str,
    exp_month: str,
    exp_year: str,
    cvc: str | None,
) -> SavedPaymentMethod:
    """Check the card, have a processor vault it (the account's first usable one), and store what it answered:
    its token, the card's brand, last four digits and expiry. A card the processor refuses is a field problem
    (422) with the customer's message, and nothing is stored; a processor that can't be reached is a 503."""
    new = await methods.check_new_card(
        session, account_id, customer_id=customer_id, number=number, exp_month=exp_month, exp_year=exp_year, cvc=cvc
    )
    await session.commit()  # only read so far: no transaction stays open across the processor call
    request = SaveCardRequest(new_id(SAVE_KEY_PREFIX), new.card, customer_email=new.customer.email)
    try:
        async with adapter_for(gateway, new.processor) as adapter:
            result = await adapter.save_card(request)
    except OutcomeUnknown as error:
        raise ProcessorUnavailable(f"The processor can't save the card now: {error}") from None
    if result.outcome is Outcome.UNAVAILABLE:
        raise ProcessorUnavailable(f"The processor can't save the card now: {result.processor_message}")
    if result.outcome is not Outcome.SUCCEEDED or result.saved_payment_method is None or result.saved_card is None:
        code = result.decline_code or DeclineCode.GENERIC_DECLINE
        path = _DECLINE_FIELDS.get(code, ("card_number",))
        raise InvalidFields.one(path, customer_message(code), type=f"card_declined.{code}")
    return await methods.save_payment_method(
        session,
        account_id,
        customer_id=new.customer.id,
        processor_id=new.processor.id,
        processor_reference=result.saved_payment_method,
        card=result.saved_card,
    )


async def update(
    session: AsyncSession, gateway: Gateway, account_id: str, payment_method_id: str, changes: Mapping[str, Any]
) -> SavedPaymentMethod:
    """The SDK's update: ``name`` and ``metadata`` change the stored method; ``is_active: false`` detaches it as a
    delete does, and ``true`` can't bring a detached method back (the processor forgot it)."""
    if changes.get("is_active") is False:
        await detach(session, gateway, account_id, payment_method_id)
    elif changes.get("is_active") is True:
        methods.refuse_reattaching(await methods.get_payment_method(session, account_id, payment_method_id))
    return await methods.update_payment_method(session, account_id, payment_method_id, changes)


async def detach(session: AsyncSession, gateway: Gateway, account_id: str, payment_method_id: str) -> None:
    """Tell the processor to forget the method (Stripe's detach; the simulator's network declines it from then
    on), then mark it inactive. Deleting a detached method changes nothing. A processor that can't be asked is a
    503 and the method stays as it was, so the merchant can try again; a deleted connection has nothing to tell."""
    method = await methods.get_payment_method(session, account_id, payment_method_id)
    if not method.is_active:
        return
    processor = await session.get(Processor, method.processor_id)
    await session.commit()  # only read so far: no transaction stays open across the processor call
    if processor is not None and processor.deleted_at is None:
        try:
            async with adapter_for(gateway, processor) as adapter:
                await adapter.detach(method.processor_reference)
        except OutcomeUnknown as error:
            raise ProcessorUnavailable(f"The processor can't detach the payment method now: {error}") from None
    await methods.mark_detached(session, account_id, payment_method_id)
