"""The saved payment method a subscription charges: one of its own customer's, still attached."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.core.errors import FieldPath, FieldProblem
from checkstand.payment_methods.models import SavedPaymentMethod


async def customer_method(
    session: AsyncSession,
    account_id: str,
    customer_id: str,
    method_id: str | None,
    path: FieldPath,
    problems: list[FieldProblem],
) -> SavedPaymentMethod | None:
    """``method_id`` if it is the customer's and attached, else (when None) the customer's newest attached method,
    as Stripe falls back to the customer's default; a problem at ``path`` when there is none. Another customer's
    method is as unknown as a missing one."""
    query = select(SavedPaymentMethod).where(
        SavedPaymentMethod.account_id == account_id, SavedPaymentMethod.customer_id == customer_id
    )
    if method_id is None:
        newest = query.where(SavedPaymentMethod.is_active.is_(True)).order_by(
            SavedPaymentMethod.created_at.desc(), SavedPaymentMethod.id.desc()
        )
        method = await session.scalar(newest.limit(1))
        if method is None:
            problems.append(FieldProblem(path, "the customer has no saved payment method; give one", "missing"))
        return method
    method = await session.scalar(query.where(SavedPaymentMethod.id == method_id))
    if method is None:
        problems.append(FieldProblem(path, "no such payment method for this customer"))
    elif not method.is_active:
        problems.append(FieldProblem(path, "this payment method was detached"))
    else:
        return method
    return None
