"""Reading checkout attempts: the merchant's list and one attempt, and an attempt as its session's customer sees it."""

from __future__ import annotations

from typing import Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.checkout.models import CheckoutSession
from checkstand.core.errors import NotFound
from checkstand.core.listing import ListParams, ListSpec, apply_list_params
from checkstand.core.lookup import one_or_not_found
from checkstand.core.pagination import Page, paginate
from checkstand.payments.models import CheckoutAttempt

ATTEMPT_LIST: Final = ListSpec(
    filterable={"state": CheckoutAttempt.state, "checkout_session_id": CheckoutAttempt.checkout_session_id},
    sortable={"created_at": CheckoutAttempt.created_at, "updated_at": CheckoutAttempt.updated_at},
    created_at=CheckoutAttempt.created_at,
    tiebreak=CheckoutAttempt.id,
)


async def get_attempt(session: AsyncSession, account_id: str, attempt_id: str) -> CheckoutAttempt:
    return await one_or_not_found(
        session,
        select(CheckoutAttempt).where(CheckoutAttempt.id == attempt_id, CheckoutAttempt.account_id == account_id),
        "checkout_attempt",
        attempt_id,
    )


async def list_attempts(session: AsyncSession, account_id: str, params: ListParams) -> Page[CheckoutAttempt]:
    query = select(CheckoutAttempt).where(CheckoutAttempt.account_id == account_id)
    return await paginate(session, apply_list_params(query, ATTEMPT_LIST, params), params.page)


async def attempt_of_session(session: AsyncSession, checkout: CheckoutSession, attempt_id: str) -> CheckoutAttempt:
    """An attempt as its session's token holder may see it: another session's attempt is unknown."""
    attempt = await get_attempt(session, checkout.account_id, attempt_id)
    if attempt.checkout_session_id != checkout.id:
        raise NotFound("checkout_attempt", attempt_id)
    return attempt
