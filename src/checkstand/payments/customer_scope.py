"""Paid's lists (orders, payments, payment methods) narrow to one customer named by its id or by the merchant's own
external id; this says which customer that is."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.core.errors import FieldProblem, InvalidFields, NotFound
from checkstand.customers import service as customers


@dataclass(frozen=True)
class CustomerScope:
    customer_id: str | None = None
    external_customer_id: str | None = None


async def scoped_customer_ids(session: AsyncSession, account_id: str, scope: CustomerScope) -> list[str] | None:
    """None when the list isn't narrowed; else the customer it is narrowed to, or nobody (an empty list) for an id
    the account doesn't know, so such a list is empty rather than an error. Both ids at once are refused."""
    if scope.customer_id is not None and scope.external_customer_id is not None:
        raise InvalidFields(
            [FieldProblem(("external_customer_id",), "give customer_id or external_customer_id, not both")]
        )
    try:
        if scope.customer_id is not None:
            return [(await customers.get_customer(session, account_id, scope.customer_id)).id]
        if scope.external_customer_id is not None:
            return [(await customers.get_by_external_id(session, account_id, scope.external_customer_id)).id]
    except NotFound:
        return []
    return None
