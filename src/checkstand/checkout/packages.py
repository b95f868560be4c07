"""A package as a session's line items: Checkstand's extra on a new session's line, expanded into the package's
prices for a billing cycle before anything else is checked, so every rule of a line (sellable, one currency, one
interval, amount caps, add-ons) applies to each of them as to any line. A problem found on one of those lines is
reported at the line the merchant sent (``package_id``, ``quantity``...), not at a line the merchant never wrote.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.catalog import packages
from checkstand.core.errors import BusinessRuleViolation, FieldPath, FieldProblem, InvalidFields, NotFound

L = TypeVar("L")


@dataclass(frozen=True)
class PackageLineSpec:
    """Every item of the package at its price for ``billing_cycle`` (the package's default when None), each item's
    quantity times ``quantity``; ``description`` is each line's, else the item's."""

    package_id: str
    billing_cycle: str | None = None
    quantity: int = 1
    description: str | None = None


@dataclass(frozen=True)
class PackagePrice:
    """One line a package line becomes."""

    price_id: str
    quantity: int
    description: str | None
    package_id: str


@dataclass
class Expansion(Generic[L]):
    """Each tier's lines with its package lines expanded, and where each expanded line came from."""

    # Where each tier's lines are in the request.
    prefixes: Sequence[FieldPath]
    tiers: list[list[L]] = field(default_factory=list)
    # (tier, index of an expanded line) -> the index of the request's line it came from, and whether that one is a
    # package line: a line after a package line moves down the list.
    origins: dict[tuple[int, int], tuple[int, bool]] = field(default_factory=dict)

    def relocated(self, problems: Sequence[FieldProblem]) -> list[FieldProblem]:
        """``problems`` located at the request's lines: a problem of a package's line moves to the package line (its
        price is the package's, ``package_id``; any other field the package line's own)."""
        relocated: list[FieldProblem] = []
        for problem in problems:
            path = problem.path
            for tier, prefix in enumerate(self.prefixes):
                rest = path[len(prefix) :]
                if path[: len(prefix)] != prefix or not rest or not isinstance(rest[0], int):
                    continue
                origin, packaged = self.origins[tier, rest[0]]
                fields = ("package_id",) if packaged and rest[1:] == ("price_id",) else rest[1:]
                path = (*prefix, origin, *fields)
                break
            moved = FieldProblem(path, problem.msg, problem.type)
            if moved not in relocated:
                relocated.append(moved)
        return relocated


async def expand(
    session: AsyncSession,
    account_id: str,
    tiers: Sequence[Sequence[L | PackageLineSpec]],
    prefixes: Sequence[FieldPath],
    line: Callable[[PackagePrice], L],
) -> Expansion[L]:
    """Each tier's lines, a package line replaced by ``line`` of each of its prices. A package that can't be sold
    (unknown, deleted, inactive, or not sold in the cycle asked for) is refused at once, at the package line."""
    expansion: Expansion[L] = Expansion(prefixes)
    problems: list[FieldProblem] = []
    for tier, (items, prefix) in enumerate(zip(tiers, prefixes, strict=True)):
        lines: list[L] = []
        for index, item in enumerate(items):
            if not isinstance(item, PackageLineSpec):
                expansion.origins[tier, len(lines)] = (index, False)
                lines.append(item)
                continue
            try:
                prices = await _package_prices(session, account_id, item)
            except InvalidFields as refused:
                problems += [FieldProblem((*prefix, index, *p.path), p.msg, p.type) for p in refused.problems]
                continue
            for price in prices:
                expansion.origins[tier, len(lines)] = (index, True)
                lines.append(line(price))
        expansion.tiers.append(lines)
    if problems:
        raise InvalidFields(problems)
    return expansion


async def _package_prices(session: AsyncSession, account_id: str, item: PackageLineSpec) -> list[PackagePrice]:
    try:
        package = await packages.get_sellable_package(session, account_id, item.package_id)
    except NotFound:
        raise InvalidFields.one(("package_id",), f"no package {item.package_id!r}", "not_found") from None
    except BusinessRuleViolation as refusal:
        raise InvalidFields.one(("package_id",), refusal.detail, refusal.code) from refusal
    try:
        lines = await packages.cycle_lines(session, package, item.billing_cycle or package.default_billing_cycle)
    except BusinessRuleViolation as refusal:
        raise InvalidFields.one(("billing_cycle",), refusal.detail, refusal.code) from refusal
    return [
        PackagePrice(
            price_id=line.price.id,
            quantity=line.quantity * item.quantity,
            description=item.description or line.description,
            package_id=package.id,
        )
        for line in lines
    ]
