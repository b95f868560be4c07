"""What a customer has going: its live subscriptions and the checkouts still open for it (Paid's customer state).
Deleting a customer is refused while it has either, so nothing billed or about to be paid is left pointing at a
customer no one can find."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.checkout.models import OPEN, CheckoutSession
from checkstand.core.errors import Conflict
from checkstand.customers import service as customers
from checkstand.customers.models import Customer
from checkstand.subscriptions.models import CANCELED, Subscription
from checkstand.test_clocks import service as test_clocks


@dataclass(frozen=True)
class CustomerState:
    """The customer, its subscriptions not yet ended (oldest first) and its open checkouts (newest first), as of
    ``at`` (the customer's clock's time)."""

    customer: Customer
    subscriptions: list[Subscription]
    checkouts: list[CheckoutSession]
    at: datetime


async def customer_state(
    session: AsyncSession, account_id: str, customer_id: str | None = None, *, external_id: str | None = None
) -> CustomerState:
    """The state of a customer found by id, or else by the merchant's external id."""
    if customer_id is not None:
        customer = await customers.get_customer(session, account_id, customer_id)
    else:
        customer = await customers.get_by_external_id(session, account_id, str(external_id))
    subscriptions = await session.scalars(
        select(Subscription)
        .where(
            Subscription.account_id == account_id,
            Subscription.customer_id == customer.id,
            Subscription.status != CANCELED,
        )
        .order_by(Subscription.created_at, Subscription.id)
    )
    at = await test_clocks.now_for_customer(session, customer.id)
    checkouts = await session.scalars(
        select(CheckoutSession)
        .where(
            CheckoutSession.account_id == account_id,
            CheckoutSession.customer_id == customer.id,
            CheckoutSession.status == OPEN,
            CheckoutSession.archived_at.is_(None),
            CheckoutSession.expires_at > at,
        )
        .order_by(CheckoutSession.created_at.desc(), CheckoutSession.id.desc())
    )
    return CustomerState(customer, list(subscriptions), list(checkouts), at)


async def delete_customer(
    session: AsyncSession, account_id: str, customer_id: str | None = None, *, external_id: str | None = None
) -> Customer:
    """Delete a customer (by id, or else by external id) that has no live subscription and no open checkout; a
    customer with either is a conflict (cancel the subscriptions, let the checkouts expire or archive them first)."""
    state = await customer_state(session, account_id, customer_id, external_id=external_id)
    if state.subscriptions:
        live = ", ".join(subscription.id for subscription in state.subscriptions)
        raise Conflict(
            f"Customer {state.customer.id!r} still has live subscriptions ({live}); cancel them first.",
            code="customer_has_live_subscriptions",
        )
    if state.checkouts:
        raise Conflict(
            f"Customer {state.customer.id!r} still has {len(state.checkouts)} open checkout(s); "
            "archive them or let them expire first.",
            code="customer_has_open_checkouts",
        )
    return await customers.delete_customer(session, account_id, state.customer.id)
