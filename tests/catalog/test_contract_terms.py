"""A price's contract term: what create_price stores and shows, and the terms it refuses, each named by field."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.catalog import service as catalog
from checkstand.core.errors import InvalidFields


async def _price(session: AsyncSession, account_id: str, **terms: Any) -> Any:
    product = await catalog.create_product(session, account_id, name="Pro")
    return await catalog.create_price(
        session, account_id, product_id=product.id, currency="usd", unit_amount_atom=1000, **terms
    )


async def test_a_recurring_price_keeps_its_term(session: AsyncSession, account_id: str) -> None:
    price = await _price(session, account_id, recurring_interval="month", contract_term_multiple=12, auto_renew=False)

    assert (price.contract_term_multiple, price.auto_renew) == (12, False)
    assert (price.snapshot()["contract_term_multiple"], price.snapshot()["auto_renew"]) == (12, False)
    plain = await _price(session, account_id, recurring_interval="month")
    assert (plain.snapshot()["contract_term_multiple"], plain.snapshot()["auto_renew"]) == (None, True)
    once = await _price(session, account_id)
    assert (once.snapshot()["contract_term_multiple"], once.snapshot()["auto_renew"]) == (None, None)


@pytest.mark.parametrize(
    ("terms", "field"),
    [
        ({"recurring_interval": "month", "contract_term_multiple": 0}, "contract_term_multiple"),
        ({"recurring_interval": "month", "contract_term_multiple": 37}, "contract_term_multiple"),
        ({"contract_term_multiple": 3}, "contract_term_multiple"),
        ({"auto_renew": False}, "auto_renew"),
    ],
)
async def test_a_term_out_of_bounds_or_on_a_one_time_price_is_refused(
    session: AsyncSession, account_id: str, terms: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidFields) as refused:
        await _price(session, account_id, **terms)
    assert [problem.path for problem in refused.value.problems] == [(field,)]
