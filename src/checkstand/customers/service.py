"""Customers: creation, updates, addresses, look-ups (by id, by the merchant's external id, by email) and lists."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.core import clock
from checkstand.core.errors import Conflict, FieldPath, FieldProblem, InvalidFields, NotFound
from checkstand.core.ids import new_id
from checkstand.core.listing import ListParams, ListSpec, apply_list_params, contains
from checkstand.core.lookup import one_or_not_found
from checkstand.core.metadata import merge_metadata
from checkstand.core.pagination import Page, PageParams, paginate
from checkstand.custom_fields.service import JsonColumnStore, apply_custom_fields, register_value_store
from checkstand.customers.models import Customer
from checkstand.events.service import record_event, snapshot
from checkstand.test_clocks import service as test_clocks

ENTITY_TYPE: Final = "customer"
ADDRESS_FIELDS: Final = ("line1", "line2", "line3", "city", "state", "zip_code", "country")
ADDRESS_KINDS: Final = {"billing": "address", "shipping": "shipping_address"}
# The longest first or last name kept (the columns' length).
NAME_PART_LENGTH: Final = 100

# Fields set as given; the others (email, names, addresses, metadata, custom fields, external id) have rules.
_PLAIN_FIELDS: Final = frozenset(
    {"phone", "billing_email", "business_name", "tax_ids", "currency", "language", "website", "churned_at"}
)
UPDATABLE_FIELDS: Final = _PLAIN_FIELDS | {
    "name",
    "email",
    "first_name",
    "last_name",
    "address",
    "shipping_address",
    "metadata",
    "custom_fields",
    "external_id",
}

LIST_SPEC: Final = ListSpec(
    filterable={
        "email": Customer.email_normalized,
        "external_id": Customer.external_id,
        "currency": Customer.currency,
        "phone": Customer.phone,
        "business_name": Customer.business_name,
    },
    sortable={
        "created_at": Customer.created_at,
        "updated_at": Customer.updated_at,
        "email": Customer.email_normalized,
        "name": Customer.name,
        "first_name": Customer.first_name,
        "last_name": Customer.last_name,
    },
    searchable=(Customer.name, Customer.email, Customer.business_name),
    created_at=Customer.created_at,
    tiebreak=Customer.id,
)

register_value_store(ENTITY_TYPE, JsonColumnStore(Customer.custom_fields, Customer.account_id))


async def create_customer(
    session: AsyncSession,
    account_id: str,
    *,
    email: str | None,
    first_name: str | None = None,
    last_name: str | None = None,
    phone: str | None = None,
    billing_email: str | None = None,
    business_name: str | None = None,
    address: Mapping[str, str | None] | None = None,
    shipping_address: Mapping[str, str | None] | None = None,
    tax_ids: Sequence[str] | None = None,
    currency: str | None = None,
    language: str | None = None,
    metadata: Mapping[str, str] | None = None,
    custom_fields: Mapping[str, Any] | None = None,
    external_id: str | None = None,
    test_clock_id: str | None = None,
    name: str | None = None,
    website: str | None = None,
) -> Customer:
    """A new customer; values are expected well-formed (the dialect checks them). ``external_id`` must be free;
    ``test_clock_id`` names a clock of the account the customer lives by from now on. A full ``name`` (Paid's) is
    split into first and last name at its first space, as the hosted page splits what a buyer types."""
    if name is not None:
        first_name, last_name = _split_name(name)
    fields = await apply_custom_fields(session, account_id, ENTITY_TYPE, {}, custom_fields)
    if test_clock_id is not None:
        try:
            await test_clocks.get_test_clock(session, account_id, test_clock_id)
        except NotFound:
            raise InvalidFields.one(("test_clock_id",), "no test clock with this id", "not_found") from None
    if external_id is not None:
        await _ensure_external_id_free(session, account_id, external_id)
    customer = Customer(
        id=new_id("cus"),
        account_id=account_id,
        external_id=external_id,
        email=email,
        email_normalized=_normalized(email),
        first_name=first_name,
        last_name=last_name,
        name=_full_name(first_name, last_name),
        phone=phone,
        billing_email=billing_email,
        business_name=business_name,
        address=_new_address(address),
        shipping_address=_new_address(shipping_address),
        tax_ids=list(tax_ids or []),
        currency=currency,
        language=language,
        customer_metadata=dict(metadata or {}),
        custom_fields=fields,
        test_clock_id=test_clock_id,
        website=website,
    )
    try:
        # A savepoint, so a concurrent create with the same external id fails on the unique constraint alone
        # and the caller's transaction stays usable.
        async with session.begin_nested():
            session.add(customer)
    except IntegrityError:
        raise _external_id_taken(external_id) from None
    await record_event(session, account_id=account_id, type="customer.created", obj=customer)
    return customer


async def update_customer(
    session: AsyncSession,
    account_id: str,
    customer_id: str | None,
    changes: Mapping[str, Any],
    *,
    external_id: str | None = None,
) -> Customer:
    """Change the fields present in ``changes`` of a customer found by id, or else by its external id (a partial
    update: absent fields keep their values; None clears).

    Addresses are replaced as a whole. ``metadata`` is merged key by key as Stripe does: a key set to "" is
    removed, and None removes them all. ``custom_fields`` go through the account's definitions."""
    unknown = set(changes) - UPDATABLE_FIELDS
    if unknown:
        raise ValueError(f"not customer fields: {sorted(unknown)}")
    if customer_id is not None:
        customer = await get_customer(session, account_id, customer_id)
    else:
        customer = await get_by_external_id(session, account_id, str(external_id))
    before = snapshot(customer)
    # Everything that reads the database comes first: a query would flush half-applied changes outside the
    # savepoint below.
    values: dict[str, Any] = {name: changes[name] for name in _PLAIN_FIELDS & changes.keys()}
    if "custom_fields" in changes and changes["custom_fields"] is not None:
        values["custom_fields"] = await apply_custom_fields(
            session, account_id, ENTITY_TYPE, customer.custom_fields, changes["custom_fields"]
        )
    new_external_id = changes.get("external_id", customer.external_id)
    if new_external_id is not None and new_external_id != customer.external_id:
        await _ensure_external_id_free(session, account_id, new_external_id)
    if "external_id" in changes:
        values["external_id"] = new_external_id
    if "email" in changes:
        values["email"] = changes["email"]
        values["email_normalized"] = _normalized(changes["email"])
    if "name" in changes:
        values["first_name"], values["last_name"] = _split_name(changes["name"] or "")
        values["name"] = _full_name(values["first_name"], values["last_name"])
    elif "first_name" in changes or "last_name" in changes:
        values["first_name"] = changes.get("first_name", customer.first_name)
        values["last_name"] = changes.get("last_name", customer.last_name)
        values["name"] = _full_name(values["first_name"], values["last_name"])
    for name in ("address", "shipping_address"):
        if name in changes:
            values[name] = _new_address(changes[name])
    if "metadata" in changes:
        values["customer_metadata"] = merge_metadata(customer.customer_metadata, changes["metadata"])
    if "tax_ids" in values:
        values["tax_ids"] = list(values["tax_ids"] or [])
    try:
        async with session.begin_nested():
            for name, value in values.items():
                setattr(customer, name, value)
    except IntegrityError:
        raise _external_id_taken(new_external_id) from None
    await record_event(session, account_id=account_id, type="customer.updated", obj=customer, before=before)
    return customer


async def add_address(
    session: AsyncSession, account_id: str, customer_id: str, kind: str, address: Mapping[str, str | None]
) -> dict[str, Any]:
    """Give the customer a new billing or shipping address (replacing the current one); returns it with its id."""
    if kind not in ADDRESS_KINDS:
        raise ValueError(f"unknown address kind {kind!r}")
    customer = await get_customer(session, account_id, customer_id)
    before = snapshot(customer)
    stored = _new_address(address)
    setattr(customer, ADDRESS_KINDS[kind], stored)
    await session.flush()
    await record_event(session, account_id=account_id, type="customer.updated", obj=customer, before=before)
    return dict(stored or {})


async def existing_ids(
    session: AsyncSession, account_id: str, customer_ids: Sequence[str], path: FieldPath
) -> list[str]:
    """``customer_ids`` when every one is a customer of the account, for the prices reserved to them (the catalog
    can't look customers up itself); else a 422 naming each unknown id's place under ``path``."""
    found = set(
        await session.scalars(
            select(Customer.id).where(
                Customer.account_id == account_id, Customer.id.in_(customer_ids), Customer.deleted_at.is_(None)
            )
        )
    )
    problems = [
        FieldProblem((*path, index), f"no customer {customer_id!r} in this account", "not_found")
        for index, customer_id in enumerate(customer_ids)
        if customer_id not in found
    ]
    if problems:
        raise InvalidFields(problems)
    return list(customer_ids)


async def get_customer(session: AsyncSession, account_id: str, customer_id: str) -> Customer:
    """A deleted customer is answered as unknown."""
    return await one_or_not_found(
        session,
        select(Customer).where(
            Customer.id == customer_id, Customer.account_id == account_id, Customer.deleted_at.is_(None)
        ),
        "customer",
        customer_id,
    )


async def get_by_external_id(session: AsyncSession, account_id: str, external_id: str) -> Customer:
    customer = await _find_by_external_id(session, account_id, external_id)
    if customer is None:
        raise NotFound("customer", external_id)
    return customer


async def find_by_email(session: AsyncSession, account_id: str, email: str) -> Customer | None:
    """The account's customer with this email, ignoring case. Emails need not be unique (as at Stripe); when
    several customers share one, the first created is the one a returning buyer is matched to (a deleted one never
    is)."""
    return await session.scalar(
        select(Customer)
        .where(
            Customer.account_id == account_id,
            Customer.email_normalized == _normalized(email),
            Customer.deleted_at.is_(None),
        )
        .order_by(Customer.created_at, Customer.id)
        .limit(1)
    )


async def mark_first_purchase(session: AsyncSession, customer: Customer, at: datetime | None = None) -> Customer:
    """Record the customer's first successful payment (the payments module calls this on every success; only
    the first one sticks)."""
    if customer.first_purchase_at is None:
        customer.first_purchase_at = at or clock.now()
        await session.flush()
    return customer


async def list_customers(session: AsyncSession, account_id: str, params: ListParams) -> Page[Customer]:
    """A page of the account's customers, newest first unless sorted otherwise. The email filter ignores case."""
    filters = dict(params.filters)
    if isinstance(filters.get("email"), str):
        filters["email"] = _normalized(str(filters["email"]))
    if isinstance(filters.get("currency"), str):
        filters["currency"] = str(filters["currency"]).lower()
    query = select(Customer).where(Customer.account_id == account_id, Customer.deleted_at.is_(None))
    query = apply_list_params(query, LIST_SPEC, dataclasses.replace(params, filters=filters))
    return await paginate(session, query, params.page)


async def find_customers(
    session: AsyncSession,
    account_id: str,
    page: PageParams,
    *,
    name: str | None = None,
    churned: bool | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    external_id: str | None = None,
) -> Page[Customer]:
    """The account's customers, newest first (Paid's list): ``name`` matches anywhere in the name or business name,
    ignoring case; ``churned`` picks those marked churned or the others; the creation bounds are inclusive."""
    query = select(Customer).where(Customer.account_id == account_id, Customer.deleted_at.is_(None))
    if name:
        query = query.where(or_(contains(Customer.name, name), contains(Customer.business_name, name)))
    if churned is not None:
        query = query.where(Customer.churned_at.is_not(None) if churned else Customer.churned_at.is_(None))
    if created_from is not None:
        query = query.where(Customer.created_at >= created_from)
    if created_to is not None:
        query = query.where(Customer.created_at <= created_to)
    if external_id is not None:
        query = query.where(Customer.external_id == external_id)
    return await paginate(session, query.order_by(Customer.created_at.desc(), Customer.id.desc()), page)


async def delete_customer(session: AsyncSession, account_id: str, customer_id: str) -> Customer:
    """Delete the customer: kept for what refers to it (payments, invoices, events), answered as unknown from now
    on, and its external id freed for another. The caller decides whether it may go (``subscriptions`` refuses while
    it has a live subscription or an open checkout)."""
    customer = await get_customer(session, account_id, customer_id)
    before = snapshot(customer)
    customer.deleted_at = clock.now()
    customer.external_id = None
    await session.flush()
    await record_event(session, account_id=account_id, type="customer.deleted", obj=customer, before=before)
    return customer


def _split_name(name: str) -> tuple[str | None, str | None]:
    """First and last name of a full name, split at its first space; refused where a part is too long to keep."""
    first, _, last = name.strip().partition(" ")
    if len(first) > NAME_PART_LENGTH or len(last.strip()) > NAME_PART_LENGTH:
        raise InvalidFields.one(
            ("name",), f"its first word and the rest must each have at most {NAME_PART_LENGTH} characters"
        )
    return first or None, last.strip() or None


def _normalized(email: str | None) -> str | None:
    return email.strip().lower() if email is not None else None


def _full_name(first_name: str | None, last_name: str | None) -> str | None:
    return " ".join(part for part in (first_name, last_name) if part) or None


def _new_address(address: Mapping[str, str | None] | None) -> dict[str, Any] | None:
    """An address as stored: every field present, and a fresh id (the SDK's ``Address`` has one)."""
    if address is None:
        return None
    return {"id": new_id("addr"), **{name: address.get(name) for name in ADDRESS_FIELDS}}


async def _find_by_external_id(session: AsyncSession, account_id: str, external_id: str) -> Customer | None:
    # A deleted customer's external id is cleared, so this never finds one.
    return await session.scalar(
        select(Customer).where(Customer.account_id == account_id, Customer.external_id == external_id)
    )


async def _ensure_external_id_free(session: AsyncSession, account_id: str, external_id: str) -> None:
    if await _find_by_external_id(session, account_id, external_id) is not None:
        raise _external_id_taken(external_id)


def _external_id_taken(external_id: str | None) -> Conflict:
    return Conflict(f"Another customer already has external id {external_id!r}.", code="customer_external_id_taken")


# --- Credit balance -------------------------------------------------------------------------------------------------


async def add_credit(session: AsyncSession, customer: Customer, amount_atom: int, currency: str) -> Customer:
    """Owe the customer ``amount_atom`` more (a downgrade's unused time). A balance is held in one currency: credit
    in another while one is held is refused (``credit_currency_mismatch``), never converted."""
    if amount_atom < 0:
        raise ValueError("a credit is never negative")
    currency = currency.lower()
    await _lock_balance(session, customer)
    if customer.credit_balance_atom and customer.credit_balance_currency not in (None, currency):
        raise Conflict(
            f"The customer holds credit in {customer.credit_balance_currency}, not {currency}.",
            code="credit_currency_mismatch",
        )
    before = snapshot(customer)
    customer.credit_balance_atom = (customer.credit_balance_atom or 0) + amount_atom
    customer.credit_balance_currency = currency
    await session.flush()
    await record_event(session, account_id=customer.account_id, type="customer.updated", obj=customer, before=before)
    return customer


async def use_credit(session: AsyncSession, customer: Customer, currency: str, up_to_atom: int) -> int:
    """Take up to ``up_to_atom`` of the customer's credit in ``currency`` off its balance; answers what was taken."""
    if up_to_atom <= 0:
        return 0
    await _lock_balance(session, customer)
    if customer.credit_balance_currency != currency.lower():
        return 0
    used = min(customer.credit_balance_atom, up_to_atom)
    if used:
        before = snapshot(customer)
        customer.credit_balance_atom -= used
        await session.flush()
        await record_event(
            session, account_id=customer.account_id, type="customer.updated", obj=customer, before=before
        )
    return used


async def _lock_balance(session: AsyncSession, customer: Customer) -> None:
    """Lock the customer's row and re-read its balance, so two invoices or changes at once can't both spend (or
    overwrite) the same credit: the second waits and sees what the first left. FOR NO KEY UPDATE on PostgreSQL: the
    key-share locks that inserting a row naming the customer takes (a payment, an invoice) don't block it, so a
    transaction that has written one and then waits on a lock this one holds (its subscription's) is no deadlock."""
    await session.flush()
    await session.refresh(
        customer,
        attribute_names=["credit_balance_atom", "credit_balance_currency"],
        with_for_update={"key_share": True},
    )


def available_credit(customer: Customer, currency: str) -> int:
    """The credit a next invoice in ``currency`` would use."""
    return customer.credit_balance_atom if customer.credit_balance_currency == currency.lower() else 0
