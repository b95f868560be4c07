"""Plan lines of prices billed for the whole quantity (tiered, package): the proration engine credits and charges
their exact amounts, a tiered line kept in both plans is left out as a flat one is, and a line stored before lines
could be priced whole still reads as per unit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from checkstand.core.money import divide_half_even
from checkstand.invoices.service import sold_line
from checkstand.subscriptions.proration import PlanLine, prorate

START = datetime(2028, 3, 1, tzinfo=UTC)
END = datetime(2028, 3, 31, tzinfo=UTC)
AT = START + timedelta(days=10)  # 20 of 30 days left


def test_a_line_keeps_a_whole_amount_only_where_it_is_not_unit_times_quantity() -> None:
    tiered = PlanLine.of("price_t", "prod_t", "Seats", 25, 0, 20_750)
    flat = PlanLine.of("price_f", "prod_f", "Seats", 25, 900, 25 * 900)
    assert (tiered.priced_atom, tiered.amount_atom) == (20_750, 20_750)
    assert (flat.priced_atom, flat.amount_atom) == (None, 22_500)
    assert PlanLine.from_dict(tiered.as_dict()) == tiered
    stored_before = {key: value for key, value in flat.as_dict().items() if key != "priced_atom"}
    assert PlanLine.from_dict(stored_before) == flat


def test_a_change_from_a_tiered_line_credits_its_whole_amount_for_the_unused_time() -> None:
    tiered = PlanLine.of("price_t", "prod_t", "Seats", 25, 0, 20_750)
    flat = PlanLine.of("price_f", "prod_t", "Seats", 25, 900, 25 * 900)

    proration = prorate([tiered], [flat], currency="usd", period_start=START, period_end=END, at=AT)

    assert [line.amount_atom for line in proration.lines] == [
        -divide_half_even(20_750 * 20, 30),
        divide_half_even(22_500 * 20, 30),
    ]
    assert proration.next_renewal_atom == 22_500


def test_a_tiered_line_in_both_plans_is_neither_credited_nor_charged() -> None:
    tiered = PlanLine.of("price_t", "prod_t", "Seats", 25, 0, 20_750)
    added = PlanLine.of("price_a", "prod_a", "Support", 1, 500, 500)

    proration = prorate(
        [tiered],
        [PlanLine.of("price_t", "prod_t", "Seats", 25, 0, 20_750), added],
        currency="usd",
        period_start=START,
        period_end=END,
        at=AT,
    )

    assert [(line.price_id, line.amount_atom) for line in proration.lines] == [
        ("price_a", divide_half_even(500 * 20, 30))
    ]


def test_an_invoice_line_shows_a_unit_amount_only_when_it_is_one() -> None:
    tiered = sold_line("Seats", 25, 0, 20_750, price_id="price_t")
    package = sold_line("Messages", 1001, 300, 600, price_id="price_p")
    flat = sold_line("Seats", 3, 900, 2700, price_id="price_f")
    assert [(line.unit_amount_atom, line.amount_atom) for line in (tiered, package, flat)] == [
        (0, 20_750),
        (0, 600),
        (900, 2700),
    ]
