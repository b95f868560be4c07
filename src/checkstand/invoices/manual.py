"""A merchant's own invoice for a customer (the SDK's ``create_invoice`` of a ``one_off`` invoice): lines given one by
one, each a catalog price or a name with an amount, in minor units as every amount here.

Every check runs before anything is written, and every problem is reported at once by its field, so a refused request
leaves nothing behind. What Checkstand does not serve yet (recurring invoices made by hand, invoices sent rather than
charged, other billing reasons, custom fields) is refused by name rather than ignored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.catalog import service as catalog
from checkstand.catalog.pricing import amount_for, bills_per_unit
from checkstand.core.errors import FieldProblem, InvalidFields, NotFound
from checkstand.core.metadata import merge_metadata
from checkstand.core.money import amount_limit, is_currency, max_amount_atom
from checkstand.customers import service as customers
from checkstand.invoices import service as invoices
from checkstand.invoices.models import DRAFT, MANUAL, OPEN, Invoice

ONE_OFF: Final = "one_off"
CHARGE_AUTOMATICALLY: Final = "charge_automatically"
MAX_LINES: Final = 100
MAX_QUANTITY: Final = 999_999
NOT_SUPPORTED: Final = "not_supported"


@dataclass(frozen=True)
class NewLine:
    """One line as the SDK's ``InvoiceItemCreate`` gives it; amounts in minor units. A price gives the name and the
    unit amount when they are left out (a tiered or package price, its amount for the quantity); without a price, a
    name and an amount are needed."""

    name: str | None = None
    price_id: str | None = None
    description: str | None = None
    quantity: int | None = None
    unit_amount_atom: int | None = None
    amount_atom: int | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class NewInvoice:
    customer_id: str
    currency: str
    issued_at: datetime
    lines: Sequence[NewLine]
    invoice_type: str | None = None
    status: str | None = None
    collection_method: str | None = None
    billing_reason: str | None = None
    due_date: datetime | None = None
    description: str | None = None
    metadata: Mapping[str, str | None] | None = None
    custom_fields: Mapping[str, Any] | None = None


async def create_manual_invoice(session: AsyncSession, account_id: str, new: NewInvoice) -> Invoice:
    """An ``open`` invoice (or a ``draft``, collected later) numbered next in the account; records
    ``invoice.created``."""
    problems = _unsupported(new)
    currency = new.currency.lower()
    if not is_currency(currency):
        problems.append(FieldProblem(("currency",), "is not an ISO 4217 currency code"))
    customer_id: str | None = None
    try:
        customer_id = (await customers.get_customer(session, account_id, new.customer_id)).id
    except NotFound:
        problems.append(FieldProblem(("customer_id",), "no such customer"))
    if new.due_date is not None and new.due_date < new.issued_at:
        problems.append(FieldProblem(("due_date",), "must not be before issued_at"))
    if not new.lines:
        problems.append(FieldProblem(("items",), "an invoice needs at least one item", "missing"))
    elif len(new.lines) > MAX_LINES:
        problems.append(FieldProblem(("items",), f"at most {MAX_LINES} items", "too_long"))
    lines = [await _line(session, account_id, currency, index, line, problems) for index, line in enumerate(new.lines)]
    specs = [line for line in lines if line is not None]
    if not problems and sum(line.amount_atom for line in specs) > max_amount_atom(currency):
        problems.append(FieldProblem(("items",), f"the total must be {amount_limit(currency)}"))
    metadata = merge_metadata({}, new.metadata or {})
    if problems or customer_id is None:
        raise InvalidFields(problems)
    return await invoices.create_invoice(
        session,
        account_id,
        customer_id=customer_id,
        currency=currency,
        lines=specs,
        billing_reason=MANUAL,
        issued_at=new.issued_at,
        status=new.status or OPEN,
        due_date=new.due_date,
        description=new.description,
        metadata=metadata,
    )


def _unsupported(new: NewInvoice) -> list[FieldProblem]:
    problems: list[FieldProblem] = []
    if new.invoice_type not in (None, ONE_OFF):
        problems.append(
            FieldProblem(("invoice_type",), "only one_off invoices are made by hand; renewals bill subscriptions")
        )
    if new.status not in (None, DRAFT, OPEN):
        problems.append(FieldProblem(("status",), "a new invoice is draft or open"))
    if new.collection_method not in (None, CHARGE_AUTOMATICALLY):
        problems.append(
            FieldProblem(("collection_method",), "only charge_automatically is supported yet", NOT_SUPPORTED)
        )
    if new.billing_reason not in (None, MANUAL):
        problems.append(FieldProblem(("billing_reason",), "an invoice made by hand is manual"))
    if new.custom_fields:
        problems.append(FieldProblem(("custom_fields",), "invoices have no custom fields yet", NOT_SUPPORTED))
    return problems


async def _line(
    session: AsyncSession, account_id: str, currency: str, index: int, line: NewLine, problems: list[FieldProblem]
) -> invoices.LineSpec | None:
    """The line to bill, or None with its problems added."""
    found = len(problems)
    name, unit = line.name, line.unit_amount_atom
    quantity = line.quantity if line.quantity is not None else 1
    priced = None
    if not 1 <= quantity <= MAX_QUANTITY:
        problems.append(FieldProblem(("items", index, "quantity"), f"must be between 1 and {MAX_QUANTITY}"))
    if line.price_id is not None:
        try:
            price = await catalog.get_price(session, account_id, line.price_id)
        except NotFound:
            problems.append(FieldProblem(("items", index, "price_external_id"), "no such price"))
        else:
            if not price.is_active:
                problems.append(FieldProblem(("items", index, "price_external_id"), "this price is archived"))
            elif price.currency != currency:
                problems.append(FieldProblem(("items", index, "price_external_id"), f"the price is not in {currency}"))
            name = name or price.product.name
            if unit is None and line.amount_atom is None and not bills_per_unit(price) and quantity >= 0:
                # A tiered or package price bills its scheme's amount for the quantity, not a unit amount times it.
                priced = amount_for(price, quantity)
            unit = unit if unit is not None else price.unit_amount_atom
    if unit is None and line.amount_atom is not None:
        if quantity != 1 and line.amount_atom % max(quantity, 1):
            problems.append(FieldProblem(("items", index, "amount"), "must be a multiple of the quantity"))
        unit = line.amount_atom // max(quantity, 1)
    if unit is None:
        problems.append(FieldProblem(("items", index, "unit_amount"), "give unit_amount, amount or a price", "missing"))
    elif line.amount_atom is not None and line.amount_atom != unit * quantity:
        problems.append(FieldProblem(("items", index, "amount"), "must be unit_amount times quantity"))
    if not name:
        problems.append(FieldProblem(("items", index, "name"), "give a name or a price", "missing"))
    if len(problems) > found or unit is None or name is None:
        return None
    if priced is not None:
        return invoices.sold_line(
            name,
            quantity,
            unit,
            priced,
            price_id=line.price_id,
            description=line.description,
            metadata=dict(line.metadata),
        )
    return invoices.LineSpec(
        name=name,
        quantity=quantity,
        unit_amount_atom=unit,
        price_id=line.price_id,
        description=line.description,
        metadata=dict(line.metadata),
    )
