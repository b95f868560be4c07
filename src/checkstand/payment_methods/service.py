"""Saved payment methods: stored once a processor has saved the card, read, listed, renamed and detached.

Only what a processor answered is stored (its reference, its customer, the card's brand, last four digits and
expiry); a card number passes through :func:`check_new_card` on its way to the processor's vault and is never kept.
Calling the processor is the payment flow's business (:mod:`checkstand.payments.saved_methods`): these functions
only read and write the table, in the caller's transaction.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import Select, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.core.errors import BusinessRuleViolation, FieldProblem, InvalidFields
from checkstand.core.ids import new_id
from checkstand.core.listing import ListParams, ListSpec, apply_list_params
from checkstand.core.lookup import locked, one_or_not_found
from checkstand.core.metadata import merge_metadata
from checkstand.core.pagination import Page, paginate
from checkstand.customers.models import Customer
from checkstand.events.service import record_event, snapshot
from checkstand.payment_methods.models import CREDIT_CARD, SavedPaymentMethod
from checkstand.processors.base import CardDetails, SavedCard
from checkstand.processors.models import Processor
from checkstand.processors.routes import SKIP_CURRENCY, processors_for_charge
from checkstand.processors.simulator import is_expired, passes_luhn

PREFIX: Final = "pm"
KIND: Final = "payment_method"
# Customers list their methods on one page, as Stripe's customer payment methods list does by default.
MAX_BY_CUSTOMER: Final = 100
_SEPARATORS = re.compile(r"[ -]")
_DIGITS = re.compile(r"[0-9]{1,4}")
_CVC = re.compile(r"[0-9]{3,4}")

LIST_SPEC = ListSpec(
    filterable={
        "customer_id": SavedPaymentMethod.customer_id,
        "provider_type": SavedPaymentMethod.provider_type,
        "processor_id": SavedPaymentMethod.processor_id,
        "brand": SavedPaymentMethod.brand,
        "last4": SavedPaymentMethod.last4,
        "is_active": SavedPaymentMethod.is_active,
    },
    sortable={"created_at": SavedPaymentMethod.created_at, "updated_at": SavedPaymentMethod.updated_at},
    searchable=(SavedPaymentMethod.display_name, SavedPaymentMethod.last4),
    created_at=SavedPaymentMethod.created_at,
    tiebreak=SavedPaymentMethod.id,
)


@dataclass(frozen=True)
class NewCard:
    """A card a merchant's server sends to be vaulted, checked, with the customer it is for and the processor that
    will keep it. ``card`` goes to that processor and nowhere else."""

    customer: Customer
    processor: Processor
    card: CardDetails


async def check_new_card(
    session: AsyncSession,
    account_id: str,
    *,
    customer_id: str,
    number: str,
    exp_month: str,
    exp_year: str,
    cvc: str | None,
) -> NewCard:
    """Refuse, before any processor sees it, a card that can't be saved: a number that isn't one (length, Luhn), an
    expiry that isn't a month or has passed, a CVC that isn't 3 or 4 digits, a customer the account doesn't have.
    Every problem is named by its field at once (:class:`InvalidFields`); nothing is stored either way."""
    problems: list[FieldProblem] = []
    digits = _SEPARATORS.sub("", number)
    if not passes_luhn(digits):
        problems.append(FieldProblem(("card_number",), "is not a valid card number"))
    month = int(exp_month) if _DIGITS.fullmatch(exp_month.strip()) else 0
    year = int(exp_year) if _DIGITS.fullmatch(exp_year.strip()) else -1
    if not 1 <= month <= 12:
        problems.append(FieldProblem(("expiry_month",), "must be a month, 1 to 12"))
    if year < 0:
        problems.append(FieldProblem(("expiry_year",), "must be a year, as YYYY or YY"))
    elif 1 <= month <= 12 and is_expired(month, year):
        problems.append(FieldProblem(("expiry_year",), "the card has expired"))
    if cvc is not None and not _CVC.fullmatch(cvc):
        problems.append(FieldProblem(("cvv",), "must be 3 or 4 digits"))
    customer = await session.scalar(
        select(Customer).where(Customer.account_id == account_id, Customer.id == customer_id)
    )
    if customer is None:
        problems.append(FieldProblem(("customer_id",), f"no customer with id {customer_id!r}"))
    if problems:
        raise InvalidFields(problems)
    assert customer is not None
    processor = await vault_processor(session, account_id)
    # Without a CVC (the SDK makes it optional) the processor is sent none: "000" is what Stripe's test cards take.
    return NewCard(customer, processor, CardDetails(digits, month, year, cvc or "000"))


async def vault_processor(session: AsyncSession, account_id: str) -> Processor:
    """The processor that keeps a card saved outside checkout: the first of the account's default route (or of its
    connections, in order) that is active and available. Its currencies don't matter to a card being saved."""
    choices = await processors_for_charge(session, account_id, currency="", route_id=None)
    for choice in choices:
        if choice.skip_reason in (None, SKIP_CURRENCY) and choice.processor.deleted_at is None:
            return choice.processor
    raise BusinessRuleViolation(
        "No processor is connected and available to keep the card.", code="no_processor_available"
    )


async def save_payment_method(
    session: AsyncSession,
    account_id: str,
    *,
    customer_id: str | None,
    processor_id: str,
    processor_reference: str,
    card: SavedCard,
    metadata: Mapping[str, str] | None = None,
) -> SavedPaymentMethod:
    """Store what a processor saved, once: a method it already has (a renewal's checkout reusing a saved card, a
    repeated completion) is answered as it is. Records ``payment_method.attached`` for a new one."""
    existing = await _by_reference(session, account_id, processor_id, processor_reference)
    if existing is not None:
        return existing
    method = SavedPaymentMethod(
        id=new_id(PREFIX),
        account_id=account_id,
        customer_id=customer_id,
        processor_id=processor_id,
        processor_reference=processor_reference,
        processor_customer_reference=card.processor_customer_reference,
        provider_type=CREDIT_CARD,
        brand=card.brand,
        last4=card.last4,
        exp_month=card.exp_month,
        exp_year=card.exp_year,
        is_active=True,
        method_metadata=dict(metadata or {}),
    )
    try:
        # A savepoint: a concurrent save of the same reference loses the insert, not the caller's transaction.
        async with session.begin_nested():
            session.add(method)
    except IntegrityError:
        winner = await _by_reference(session, account_id, processor_id, processor_reference)
        if winner is None:
            raise
        return winner
    await record_event(session, account_id=account_id, type="payment_method.attached", obj=method)
    return method


async def get_payment_method(session: AsyncSession, account_id: str, payment_method_id: str) -> SavedPaymentMethod:
    return await one_or_not_found(session, _methods(account_id, payment_method_id), KIND, payment_method_id)


async def list_payment_methods(
    session: AsyncSession, account_id: str, params: ListParams, *, include_inactive: bool = False
) -> Page[SavedPaymentMethod]:
    """A page of the account's methods, newest first; detached ones only when asked."""
    query = select(SavedPaymentMethod).where(SavedPaymentMethod.account_id == account_id)
    if not include_inactive:
        query = query.where(SavedPaymentMethod.is_active.is_(True))
    return await paginate(session, apply_list_params(query, LIST_SPEC, params), params.page)


async def list_by_customer(session: AsyncSession, account_id: str, customer_id: str) -> list[SavedPaymentMethod]:
    """The customer's active methods, newest first (at most :data:`MAX_BY_CUSTOMER`); 404 for a customer the
    account doesn't have."""
    await one_or_not_found(
        session,
        select(Customer.id).where(Customer.account_id == account_id, Customer.id == customer_id),
        "customer",
        customer_id,
    )
    found = await session.scalars(
        select(SavedPaymentMethod)
        .where(
            SavedPaymentMethod.account_id == account_id,
            SavedPaymentMethod.customer_id == customer_id,
            SavedPaymentMethod.is_active.is_(True),
        )
        .order_by(SavedPaymentMethod.created_at.desc(), SavedPaymentMethod.id.desc())
        .limit(MAX_BY_CUSTOMER)
    )
    return list(found)


async def lock_payment_method(session: AsyncSession, account_id: str, payment_method_id: str) -> SavedPaymentMethod:
    return await one_or_not_found(session, locked(_methods(account_id, payment_method_id)), KIND, payment_method_id)


async def update_payment_method(
    session: AsyncSession, account_id: str, payment_method_id: str, changes: Mapping[str, Any]
) -> SavedPaymentMethod:
    """Rename (``name``; null or "" goes back to "Visa ending 4242") or change ``metadata`` (Stripe's merge rule).
    Detaching is :func:`mark_detached`, after the processor has forgotten the method. Records
    ``payment_method.updated`` when something changed."""
    method = await lock_payment_method(session, account_id, payment_method_id)
    before = snapshot(method)
    if "name" in changes:
        method.display_name = changes["name"] or None
    if "metadata" in changes:
        method.method_metadata = merge_metadata(method.method_metadata, changes["metadata"])
    await session.flush()
    await record_event(session, account_id=account_id, type="payment_method.updated", obj=method, before=before)
    return method


def refuse_reattaching(method: SavedPaymentMethod) -> None:
    """A detached method stays detached, as Stripe's: the processor has forgotten it, so the card is saved anew."""
    if not method.is_active:
        raise BusinessRuleViolation(
            f"Payment method {method.id!r} was detached and can't be used again; save the card again.",
            code="payment_method_detached",
        )


async def mark_detached(session: AsyncSession, account_id: str, payment_method_id: str) -> SavedPaymentMethod:
    """The method is inactive from now on (once the processor has forgotten it): never charged again, kept for the
    invoices and payments that name it. A subscription whose default it was keeps it, as Stripe does: its next
    renewal fails and dunning asks for another card. Records ``payment_method.detached`` once."""
    method = await lock_payment_method(session, account_id, payment_method_id)
    if method.is_active:
        method.is_active = False
        await session.flush()
        await record_event(session, account_id=account_id, type="payment_method.detached", obj=method)
    return method


async def default_method_ids(session: AsyncSession, account_id: str, customer_ids: Collection[str]) -> dict[str, str]:
    """Each customer's default method (Paid's ``isDefault``), by customer id: the active method chosen as default
    (:func:`set_default`), else the newest active one (what the customer's latest checkout saved). A customer without
    an active method has none."""
    found = await session.execute(
        select(SavedPaymentMethod.customer_id, SavedPaymentMethod.id)
        .where(
            SavedPaymentMethod.account_id == account_id,
            SavedPaymentMethod.customer_id.in_(list(customer_ids)),
            SavedPaymentMethod.is_active.is_(True),
        )
        .order_by(
            SavedPaymentMethod.is_default.desc(),
            SavedPaymentMethod.created_at.desc(),
            SavedPaymentMethod.id.desc(),
        )
    )
    defaults: dict[str, str] = {}
    for customer_id, method_id in found:
        if customer_id is not None:
            defaults.setdefault(customer_id, method_id)
    return defaults


async def set_default(session: AsyncSession, account_id: str, payment_method_id: str) -> SavedPaymentMethod:
    """Make an active method its customer's default, and no other. The customer's row is locked first, so two
    racing choices for one customer leave one default."""
    method = await get_payment_method(session, account_id, payment_method_id)
    refuse_reattaching(method)
    if method.customer_id is None:
        raise BusinessRuleViolation(
            f"Payment method {method.id!r} belongs to no customer: it can't be a customer's default.",
            code="payment_method_without_customer",
        )
    await session.execute(
        locked(select(Customer.id).where(Customer.account_id == account_id, Customer.id == method.customer_id))
    )
    await session.execute(
        update(SavedPaymentMethod)
        .where(
            SavedPaymentMethod.account_id == account_id,
            SavedPaymentMethod.customer_id == method.customer_id,
            SavedPaymentMethod.id != method.id,
            SavedPaymentMethod.is_default.is_(True),
        )
        .values(is_default=False)
        .execution_options(synchronize_session="fetch")
    )
    method = await lock_payment_method(session, account_id, payment_method_id)
    refuse_reattaching(method)
    method.is_default = True
    await session.flush()
    return method


def _methods(account_id: str, payment_method_id: str) -> Select[SavedPaymentMethod]:
    return select(SavedPaymentMethod).where(
        SavedPaymentMethod.account_id == account_id, SavedPaymentMethod.id == payment_method_id
    )


async def _by_reference(
    session: AsyncSession, account_id: str, processor_id: str, processor_reference: str
) -> SavedPaymentMethod | None:
    return await session.scalar(
        select(SavedPaymentMethod).where(
            SavedPaymentMethod.account_id == account_id,
            SavedPaymentMethod.processor_id == processor_id,
            SavedPaymentMethod.processor_reference == processor_reference,
        )
    )
