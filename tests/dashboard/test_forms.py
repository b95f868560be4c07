"""The dashboard's one form helper: each reader turns text into a service's input or a field's message."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from io import BytesIO

import pytest
from starlette.datastructures import FormData, UploadFile

from checkstand.core.errors import FieldProblem
from checkstand.dashboard.forms import (
    MAX_FIELD_LENGTH,
    NOT_A_NUMBER,
    NOT_A_TIME,
    NOT_A_WHOLE_NUMBER,
    Form,
    metadata_names,
    metadata_values,
)


def test_of_keeps_only_named_text_fields_cut_to_the_longest_a_field_needs() -> None:
    posted = FormData(
        [("name", "x" * (MAX_FIELD_LENGTH + 5)), ("other", "ignored"), ("file", UploadFile(file=BytesIO(b"x")))]
    )
    form = Form.of(posted, ["name", "file", "absent"])
    assert form.values == {"name": "x" * MAX_FIELD_LENGTH, "file": "", "absent": ""}


def test_text_is_trimmed_required_when_told_and_bounded() -> None:
    form = Form(values={"name": "  Pro  ", "empty": " ", "long": "abcdef"})
    assert form.text("name", max_length=10) == "Pro"
    assert form.text("empty", max_length=10) is None
    assert form.text("empty", max_length=10, required="Enter a name") is None
    assert form.text("long", max_length=5) == "abcdef"
    assert form.errors == {"empty": "Enter a name", "long": "Enter at most 5 characters"}


@pytest.mark.parametrize(
    ("typed", "low", "high", "number", "error"),
    [
        ("", None, None, None, None),
        (" 42 ", None, None, 42, None),
        ("-3", None, None, -3, None),
        ("two", None, None, None, NOT_A_WHOLE_NUMBER),
        ("1.5", None, None, None, NOT_A_WHOLE_NUMBER),
        ("+5", None, None, None, NOT_A_WHOLE_NUMBER),
        ("1_000", None, None, None, NOT_A_WHOLE_NUMBER),
        ("1" * 13, None, None, None, NOT_A_WHOLE_NUMBER),
        ("٣", None, None, None, NOT_A_WHOLE_NUMBER),
        ("11", None, 10, None, "must be at most 10"),
        ("0", 1, None, None, "must be at least 1"),
        ("0", 1, 10, None, "must be from 1 to 10"),
        ("10", 1, 10, 10, None),
    ],
)
def test_whole_number(typed: str, low: int | None, high: int | None, number: int | None, error: str | None) -> None:
    form = Form(values={"count": typed})
    assert form.whole_number("count", low=low, high=high) == number
    assert form.errors.get("count") == error


def test_whole_number_error_shown_at_another_field() -> None:
    form = Form(values={"quantity.2": "two"})
    assert form.whole_number("quantity.2", at="line_items.2.quantity") is None
    assert form.errors == {"line_items.2.quantity": NOT_A_WHOLE_NUMBER}


def test_decimal_is_exact_or_a_field_error() -> None:
    form = Form(values={"ok": "12.50", "nan": "NaN", "word": "ten", "inf": "Infinity"})
    assert form.decimal("ok") == Decimal("12.50")
    assert form.decimal("missing") is None
    for name in ("nan", "word", "inf"):
        assert form.decimal(name) is None
        assert form.errors[name] == NOT_A_NUMBER


@pytest.mark.parametrize(
    ("typed", "currency", "atoms", "error"),
    [
        ("19.99", "usd", 1999, None),
        ("20", "usd", 2000, None),
        ("500", "jpy", 500, None),
        ("1.234", "kwd", 1234, None),
        ("", "usd", None, "Enter an amount, such as 19.99"),
        ("-5", "usd", None, "Enter an amount in digits with a decimal point, such as 19.99"),
        ("1e3", "usd", None, "Enter an amount in digits with a decimal point, such as 19.99"),
        ("19.999", "usd", None, "USD has 2 decimal places at most"),
        ("5.5", "jpy", None, "JPY has no minor unit: enter a whole amount"),
    ],
)
def test_minor_units_by_currency_exponent(typed: str, currency: str, atoms: int | None, error: str | None) -> None:
    form = Form(values={"amount": typed})
    assert form.minor_units("amount", currency) == atoms
    assert form.errors.get("amount") == error


def test_utc_time_reads_a_datetime_local_as_utc_and_refuses_an_offset() -> None:
    form = Form(values={"at": "2026-05-01T10:30", "zoned": "2026-05-01T10:30+02:00", "word": "soon"})
    assert form.utc_time("at") == datetime(2026, 5, 1, 10, 30, tzinfo=UTC)
    assert form.utc_time("zoned") is None
    assert form.utc_time("word") is None
    assert form.errors == {"zoned": NOT_A_TIME, "word": NOT_A_TIME}


def test_metadata_rows_become_the_services_changes() -> None:
    values = {name: "" for name in metadata_names(4)}
    values |= {"metadata_key.0": " plan ", "metadata_value.0": "pro", "metadata_value.1": "orphan"}
    values |= {"metadata_key.2": "plan", "metadata_value.2": "team", "metadata_key.3": "k" * 41}
    form = Form(values=values)
    changes = form.metadata({"plan": "basic", "gone": "x"}, rows=4)
    assert changes == {"gone": None, "plan": "team", "k" * 41: ""}
    assert form.errors == {
        "metadata.1.key": "Give this value a key",
        "metadata.2.key": "This key is given twice",
        "metadata.3.key": "Enter at most 40 characters",
    }


def test_metadata_row_count_shows_every_filled_row_then_spare_ones() -> None:
    assert Form().metadata_row_count() == 3
    assert Form(values=metadata_values({"a": 1, "b": "2"})).metadata_row_count() == 5


def test_place_puts_each_problem_at_its_field_or_the_top() -> None:
    form = Form()
    form.place(
        [
            FieldProblem(("unit_amount_atom",), "too large"),
            FieldProblem(("unit_amount_atom",), "second"),
            FieldProblem(("tiers", 1, "up_to"), "must grow"),
            FieldProblem((), "refused"),
        ],
        {"unit_amount_atom": "unit_amount"},
    )
    assert form.errors == {"unit_amount": "too large"}
    assert form.alerts == ["tiers.1.up_to: must grow", "refused"]
