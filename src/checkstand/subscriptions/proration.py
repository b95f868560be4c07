"""The proration engine: what a plan change mid-period credits and charges, to the second, in integer minor units.

Pure (no I/O, no clock): a plan change, a checkout that upgrades and the preview all price a change here, so the
customer is quoted, shown and charged the same amounts. Each line is prorated on its own and rounded half-even once
(``core/money.divide_half_even``): the unused time of an old line is a credit (a negative amount), the remaining time
of a new line a charge. A line that is in both plans unchanged (same price, quantity and unit amount) is left out,
since crediting and recharging it would cancel out exactly. A credit is the line's cost for the whole period scaled
by the unused fraction, so it never exceeds what the line cost for the period.

With ``new_period_end`` (an interval change: the new plan starts a new period at ``at``) the old lines are credited
for their unused time and the new lines are charged in full for the new period.

A discount comes in as each line's amount off per period (``old_off``, ``new_off``: what the subscription's coupon
takes off that line on a renewal invoice), and the line is prorated from its discounted amount, so the credit is what
the customer paid for the unused time and a line is still rounded once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from checkstand.core.money import divide_half_even, exponent

SECOND: Final = timedelta(seconds=1)


@dataclass(frozen=True, slots=True)
class PlanLine:
    """One item of a plan as sold: ``unit_amount_atom`` per unit per period, or, when its price's scheme prices the
    quantity as a whole (tiered, package: :func:`checkstand.catalog.pricing.amount_for`), ``priced_atom`` for the
    whole quantity per period. Make one with :meth:`of`, which keeps ``priced_atom`` only where it differs from the
    unit amount times the quantity, so two lines billing the same are equal however they were made."""

    price_id: str
    product_id: str
    product_name: str
    quantity: int
    unit_amount_atom: int
    priced_atom: int | None = None

    @classmethod
    def of(
        cls, price_id: str, product_id: str, product_name: str, quantity: int, unit_amount_atom: int, amount_atom: int
    ) -> PlanLine:
        """The line billing ``amount_atom`` per period for ``quantity`` of a price whose unit amount is
        ``unit_amount_atom``."""
        priced = None if amount_atom == unit_amount_atom * quantity else amount_atom
        return cls(price_id, product_id, product_name, quantity, unit_amount_atom, priced)

    @property
    def amount_atom(self) -> int:
        return self.unit_amount_atom * self.quantity if self.priced_atom is None else self.priced_atom

    def as_dict(self) -> dict[str, Any]:
        return {
            "price_id": self.price_id,
            "product_id": self.product_id,
            "product_name": self.product_name,
            "quantity": self.quantity,
            "unit_amount_atom": self.unit_amount_atom,
            "priced_atom": self.priced_atom,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PlanLine:
        """The line :meth:`as_dict` stored; one stored before lines could be priced whole has no ``priced_atom``."""
        return cls(
            data["price_id"],
            data["product_id"],
            data["product_name"],
            data["quantity"],
            data["unit_amount_atom"],
            data.get("priced_atom"),
        )


@dataclass(frozen=True, slots=True)
class ProrationLine:
    """A credit for unused time (``amount_atom`` negative) or a charge for remaining time, over its own span."""

    description: str
    price_id: str | None
    quantity: int
    amount_atom: int
    period_start: datetime
    period_end: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "description": self.description,
            "price_id": self.price_id,
            "quantity": self.quantity,
            "amount_atom": self.amount_atom,
            "period_start": self.period_start.isoformat(),
            "period_end": self.period_end.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProrationLine:
        return cls(
            description=data["description"],
            price_id=data["price_id"],
            quantity=data["quantity"],
            amount_atom=data["amount_atom"],
            period_start=datetime.fromisoformat(data["period_start"]),
            period_end=datetime.fromisoformat(data["period_end"]),
        )


@dataclass(frozen=True, slots=True)
class Proration:
    """A priced change: its lines, the credit (a positive sum of the credit lines), the charge, and ``net_atom`` (the
    charge minus the credit: what is due now when positive, what the customer is owed when negative).
    ``next_renewal_atom`` is the new plan's full price for one period (before discounts and credit balance), due at
    ``next_renewal_at``."""

    currency: str
    at: datetime
    period_start: datetime
    period_end: datetime
    lines: tuple[ProrationLine, ...]
    credit_atom: int
    charge_atom: int
    net_atom: int
    next_renewal_atom: int
    next_renewal_at: datetime

    @property
    def amount_due_atom(self) -> int:
        """What a change charges now: the net when positive, else nothing (the credit goes to the balance)."""
        return max(self.net_atom, 0)

    def as_dict(self) -> dict[str, Any]:
        """JSON for ``CheckoutSession.proration`` (instants as ISO 8601)."""
        return {
            "currency": self.currency,
            "at": self.at.isoformat(),
            "period_start": self.period_start.isoformat(),
            "period_end": self.period_end.isoformat(),
            "lines": [line.as_dict() for line in self.lines],
            "credit_atom": self.credit_atom,
            "charge_atom": self.charge_atom,
            "net_atom": self.net_atom,
            "amount_due_atom": self.amount_due_atom,
            "next_renewal_atom": self.next_renewal_atom,
            "next_renewal_at": self.next_renewal_at.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Proration:
        """The proration :meth:`as_dict` stored (extra keys a caller stored beside it are ignored)."""
        return cls(
            currency=data["currency"],
            at=datetime.fromisoformat(data["at"]),
            period_start=datetime.fromisoformat(data["period_start"]),
            period_end=datetime.fromisoformat(data["period_end"]),
            lines=tuple(ProrationLine.from_dict(line) for line in data["lines"]),
            credit_atom=data["credit_atom"],
            charge_atom=data["charge_atom"],
            net_atom=data["net_atom"],
            next_renewal_atom=data["next_renewal_atom"],
            next_renewal_at=datetime.fromisoformat(data["next_renewal_at"]),
        )


def seconds(start: datetime, end: datetime) -> int:
    """Whole seconds from ``start`` to ``end`` (a fraction of a second is not billed)."""
    return (end - start) // SECOND


def prorated(amount_atom: int, part_seconds: int, whole_seconds: int) -> int:
    """``amount_atom`` scaled by ``part / whole``, rounded half-even once."""
    return divide_half_even(amount_atom * part_seconds, whole_seconds)


def prorate(
    old: Sequence[PlanLine],
    new: Sequence[PlanLine],
    *,
    currency: str,
    period_start: datetime,
    period_end: datetime,
    at: datetime,
    new_period_end: datetime | None = None,
    old_off: Sequence[int] = (),
    new_off: Sequence[int] = (),
) -> Proration:
    """Price replacing ``old`` by ``new`` at ``at`` within the period ``[period_start, period_end)``.

    ``old_off`` and ``new_off`` are aligned with ``old`` and ``new`` (empty: nothing off). Raises ValueError for an
    instant outside the period, an empty period, a negative quantity or amount, or an amount off outside 0 to the
    line's amount: callers check what a request carries first and answer in their own words."""
    exponent(currency)
    if period_end <= period_start:
        raise ValueError("the period is empty")
    if not period_start <= at <= period_end:
        raise ValueError("the change's instant is outside the current period")
    if new_period_end is not None and new_period_end <= at:
        raise ValueError("the new period ends before it starts")
    for line in (*old, *new):
        if line.quantity < 0 or line.unit_amount_atom < 0 or line.amount_atom < 0:
            raise ValueError("quantities and amounts are never negative")
    old_priced = _priced(old, old_off)
    new_priced = _priced(new, new_off)
    whole = seconds(period_start, period_end)
    unused = seconds(at, period_end)
    if new_period_end is None:
        kept = Counter(old) & Counter(new)
        credits = [_credit(line, off, unused, whole, at, period_end) for line, off in _without(old_priced, kept)]
        charges = [_charge(line, off, unused, whole, at, period_end) for line, off in _without(new_priced, kept)]
        renewal_at = period_end
    else:
        credits = [_credit(line, off, unused, whole, at, period_end) for line, off in old_priced]
        charges = [_charge(line, off, 1, 1, at, new_period_end, label="New period") for line, off in new_priced]
        renewal_at = new_period_end
    credit = -sum(line.amount_atom for line in credits)
    charge = sum(line.amount_atom for line in charges)
    return Proration(
        currency=currency.lower(),
        at=at,
        period_start=period_start,
        period_end=period_end,
        lines=(*credits, *charges),
        credit_atom=credit,
        charge_atom=charge,
        net_atom=charge - credit,
        next_renewal_atom=sum(line.amount_atom for line in new),
        next_renewal_at=renewal_at,
    )


def _priced(lines: Sequence[PlanLine], off: Sequence[int]) -> list[tuple[PlanLine, int]]:
    """Each line with its amount off per period (0 when no discount is given)."""
    offs = list(off) or [0] * len(lines)
    if len(offs) != len(lines):
        raise ValueError("an amount off is given for every line or for none")
    for line, amount_off in zip(lines, offs, strict=True):
        if not 0 <= amount_off <= line.amount_atom:
            raise ValueError("an amount off lies between 0 and the line's amount")
    return list(zip(lines, offs, strict=True))


def _without(lines: Sequence[tuple[PlanLine, int]], kept: Counter[PlanLine]) -> list[tuple[PlanLine, int]]:
    """``lines`` less those kept unchanged, counted as a multiset (a plan may sell one price on two lines)."""
    left = Counter(kept)
    rest = []
    for line, off in lines:
        if left[line] > 0:
            left[line] -= 1
        else:
            rest.append((line, off))
    return rest


def _credit(line: PlanLine, off: int, unused: int, whole: int, at: datetime, end: datetime) -> ProrationLine:
    return ProrationLine(
        description=f"Unused time on {line.quantity} x {line.product_name}",
        price_id=line.price_id,
        quantity=line.quantity,
        amount_atom=-prorated(line.amount_atom - off, unused, whole),
        period_start=at,
        period_end=end,
    )


def _charge(
    line: PlanLine, off: int, part: int, whole: int, at: datetime, end: datetime, *, label: str = "Remaining time"
) -> ProrationLine:
    return ProrationLine(
        description=f"{label} on {line.quantity} x {line.product_name}",
        price_id=line.price_id,
        quantity=line.quantity,
        amount_atom=prorated(line.amount_atom - off, part, whole),
        period_start=at,
        period_end=end,
    )
