"""Saving and detaching payment methods outside checkout, where a processor must be asked: the SDK's
``create_credit_card`` vaults a card at a processor, deleting a method detaches it there. Also Paid's view of
saved methods: each with whether it is its customer's default, and choosing the default.

Each runs in the request's unit of work, split around the processor call as the payment flow is: what is read
first is read in a transaction that is committed (it wrote nothing) before the processor is called, so no
transaction is open during the call (on SQLite a writing request holds the database's write lock, which the
simulator's own network needs); what the processor answered is then written in a new transaction, which the
request commits with its response. A request dying after the call leaves at most a card vaulted at the processor
that nothing names, and charges nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.core.errors import FieldPath, InvalidFields, ProcessorUnavailable
from checkstand.core.ids import new_id
from checkstand.core.listing import ListParams, Scalar
from checkstand.core.pagination import Page, PageParams
from checkstand.payment_methods import service as methods
from checkstand.payment_methods.models import SavedPaymentMethod
from checkstand.payments.adapters import Gateway, adapter_for
from checkstand.payments.customer_scope import CustomerScope, scoped_customer_ids
from checkstand.processors.base import DeclineCode, Outcome, OutcomeUnknown, SaveCardRequest, customer_message
from checkstand.processors.models import Processor
from checkstand.subscriptions import changes
from checkstand.subscriptions import service as subscriptions
from checkstand.subscriptions.models import CANCELED

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


@dataclass(frozen=True)
class MethodView:
    """A method with whether it is its customer's default (:func:`methods.default_method_ids`)."""

    method: SavedPaymentMethod
    is_default: bool


async def list_methods(
    session: AsyncSession, account_id: str, scope: CustomerScope, page: PageParams
) -> Page[MethodView]:
    """The account's active methods, or one customer's (Paid's list), newest first."""
    customer_ids = await scoped_customer_ids(session, account_id, scope)
    if customer_ids == []:
        return Page(items=[], total=0, limit=page.limit, offset=page.offset)
    filters: dict[str, Scalar] = {} if customer_ids is None else {"customer_id": customer_ids[0]}
    found = await methods.list_payment_methods(session, account_id, ListParams(page=page, filters=filters))
    return Page(
        items=await _views(session, account_id, found.items), total=found.total, limit=page.limit, offset=page.offset
    )


async def method_view(session: AsyncSession, account_id: str, payment_method_id: str) -> MethodView:
    method = await methods.get_payment_method(session, account_id, payment_method_id)
    return (await _views(session, account_id, [method]))[0]


async def make_default(session: AsyncSession, account_id: str, payment_method_id: str) -> MethodView:
    """Paid's ``set-default``: the method becomes its customer's default, and the one the customer's subscriptions
    that still run charge from their next renewal on (each records ``subscription.updated``). Nothing is charged
    now: an overdue invoice is retried on it by dunning."""
    method = await methods.set_default(session, account_id, payment_method_id)
    assert method.customer_id is not None  # set_default refuses a method without a customer
    for subscription in await subscriptions.list_by_customer(session, account_id, method.customer_id):
        if subscription.status != CANCELED and subscription.default_payment_method_id != method.id:
            await changes.update_subscription(
                session, account_id, subscription.id, {"default_payment_method_id": method.id}
            )
    return MethodView(method, True)


async def _views(session: AsyncSession, account_id: str, found: Sequence[SavedPaymentMethod]) -> list[MethodView]:
    customer_ids = {method.customer_id for method in found if method.customer_id is not None}
    defaults = await methods.default_method_ids(session, account_id, customer_ids) if customer_ids else {}
    return [
        MethodView(method, method.customer_id is not None and defaults.get(method.customer_id) == method.id)
        for method in found
    ]
