"""What every dashboard form shares: the form as typed (shown again after a refusal), the checks only a form's text
can fail (a text too long for its column, a number, an amount or a time that isn't one, a metadata row), and a
service's problems placed next to the fields they name.

Every rule of a domain is its service's; these readers only turn text into the service's input, so each page's
messages about the same mistake read the same."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from starlette.datastructures import FormData

from checkstand.core.errors import FieldProblem
from checkstand.core.metadata import MAX_KEY_LENGTH, MAX_KEYS, MAX_VALUE_LENGTH
from checkstand.core.money import exponent, is_currency, to_minor

MAX_FIELD_LENGTH: Final = 2048
MAX_ID_LENGTH: Final = 100
MAX_SEARCH_LENGTH: Final = 250
# The columns' lengths (and the API schema's) of a name and a description: a longer text would be refused by
# PostgreSQL, not by a rule.
MAX_NAME_LENGTH: Final = 250
MAX_DESCRIPTION_LENGTH: Final = 1000
# The largest value an INTEGER column holds: a larger count would fail in the database instead of on the form.
MAX_COUNT: Final = 2**31 - 1
# Blank metadata rows offered beside the ones already set.
SPARE_METADATA_ROWS: Final = 3
NO_NAME: Final = "Enter a name"
NOT_A_WHOLE_NUMBER: Final = "Enter a whole number"
NOT_A_NUMBER: Final = "Enter a number"
NOT_A_TIME: Final = "Enter a date and time (UTC)"
NOT_AN_AMOUNT: Final = "Enter an amount in digits with a decimal point, such as 19.99"
# Plain decimal notation only: "19.99", "20", "0.5". No sign, exponent or thousands separator to misread.
_AMOUNT: Final = re.compile(r"^[0-9]{1,12}(\.[0-9]{0,6})?$")
_INTEGER: Final = re.compile(r"^-?[0-9]{1,12}$")


def text(value: object) -> str:
    """A posted value as text, cut to a length no field needs: a file or a huge value never reaches a reader."""
    return value[:MAX_FIELD_LENGTH] if isinstance(value, str) else ""


def too_long(limit: int) -> str:
    return f"Enter at most {limit} characters"


def metadata_names(rows: int = MAX_KEYS) -> list[str]:
    return [f"{kind}.{row}" for row in range(rows) for kind in ("metadata_key", "metadata_value")]


def metadata_values(current: Mapping[str, Any]) -> dict[str, str]:
    """The form's metadata rows filled with what is set now."""
    values: dict[str, str] = {}
    for row, (key, value) in enumerate(sorted(current.items())):
        values[f"metadata_key.{row}"] = key
        values[f"metadata_value.{row}"] = str(value)
    return values


@dataclass
class Form:
    """The form as typed and the problems found, keyed by the form's field names."""

    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    # Problems with no field on the form: shown at its top.
    alerts: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, posted: FormData, names: Iterable[str]) -> Form:
        return cls(values={name: text(posted.get(name)) for name in names})

    def value(self, name: str, default: str = "") -> str:
        return self.values.get(name, default)

    def text(self, name: str, *, max_length: int, required: str | None = None) -> str | None:
        """The field's trimmed text, None when empty; ``required`` is the message when it must not be."""
        value = self.value(name).strip()
        if not value:
            if required is not None:
                self.errors[name] = required
            return None
        if len(value) > max_length:
            self.errors[name] = too_long(max_length)
        return value

    def whole_number(
        self, name: str, *, low: int | None = None, high: int | None = None, at: str | None = None
    ) -> int | None:
        """The field's integer, None when empty. ``low``/``high`` are only for a number the service stores
        unchecked, bounded by its column: what a domain allows is its service's to say. ``at`` is the field the
        error is shown at when that isn't ``name``."""
        raw = self.value(name).strip()
        if not raw:
            return None
        if not _INTEGER.match(raw):
            self.errors[at or name] = NOT_A_WHOLE_NUMBER
            return None
        number = int(raw, 10)
        if (low is not None and number < low) or (high is not None and number > high):
            self.errors[at or name] = (
                f"must be at most {high}"
                if low is None
                else f"must be at least {low}"
                if high is None
                else f"must be from {low} to {high}"
            )
            return None
        return number

    def decimal(self, name: str) -> Decimal | None:
        """The field's exact decimal number ("12.5", "5.00"), None when empty."""
        raw = self.value(name).strip()
        if not raw:
            return None
        try:
            number = Decimal(raw) if raw.isascii() and len(raw) <= 20 else Decimal("nan")
        except InvalidOperation:
            number = Decimal("nan")
        if not number.is_finite():
            self.errors[name] = NOT_A_NUMBER
            return None
        return number

    def minor_units(self, name: str, currency: str) -> int | None:
        """An amount typed in the currency's major unit ("19.99") in its minor units (1999 for usd), through
        core.money. More decimals than the currency has is refused rather than rounded: the merchant meant
        something."""
        value = self.value(name).strip()
        if not value:
            self.errors[name] = "Enter an amount, such as 19.99"
            return None
        if not _AMOUNT.match(value):
            self.errors[name] = NOT_AN_AMOUNT
            return None
        if not is_currency(currency):
            # The service names the currency; no amount can be read without it.
            return 0
        places = exponent(currency)
        try:
            amount = Decimal(value)
        except InvalidOperation:
            self.errors[name] = NOT_AN_AMOUNT
            return None
        if -int(amount.as_tuple().exponent) > places:
            self.errors[name] = (
                f"{currency.upper()} has no minor unit: enter a whole amount"
                if places == 0
                else f"{currency.upper()} has {places} decimal places at most"
            )
            return None
        return to_minor(amount, currency)

    def utc_time(self, name: str) -> datetime | None:
        """A ``datetime-local`` field's value, read as UTC; None when empty."""
        raw = self.value(name).strip()
        if not raw:
            return None
        try:
            moment = datetime.fromisoformat(raw) if raw.isascii() and len(raw) <= 32 else None
        except ValueError:
            moment = None
        if moment is None or moment.tzinfo is not None:
            self.errors[name] = NOT_A_TIME
            return None
        return moment.replace(tzinfo=UTC)

    def metadata(self, current: Mapping[str, Any] | None = None, *, rows: int = MAX_KEYS) -> dict[str, str | None]:
        """The metadata rows as the service's changes: each key typed is set, a key of ``current`` no longer typed
        is removed (null), as the API's metadata merge reads them. A row's problem is shown next to it."""
        typed: dict[str, str] = {}
        for row in range(rows):
            key, value = self.value(f"metadata_key.{row}").strip(), self.value(f"metadata_value.{row}")
            if not key:
                if value:
                    self.errors[f"metadata.{row}.key"] = "Give this value a key"
                continue
            if len(key) > MAX_KEY_LENGTH:
                self.errors[f"metadata.{row}.key"] = too_long(MAX_KEY_LENGTH)
            if len(value) > MAX_VALUE_LENGTH:
                self.errors[f"metadata.{row}.value"] = too_long(MAX_VALUE_LENGTH)
            if key in typed:
                self.errors[f"metadata.{row}.key"] = "This key is given twice"
            typed[key] = value
        changes: dict[str, str | None] = {key: None for key in current or {} if key not in typed}
        changes.update(typed)
        return changes

    def metadata_row_count(self) -> int:
        """The rows the form shows: every row filled, then a few blank ones, at most the keys metadata may hold."""
        filled = [
            row for row in range(MAX_KEYS) if self.value(f"metadata_key.{row}") or self.value(f"metadata_value.{row}")
        ]
        return min(MAX_KEYS, (max(filled) + 1 if filled else 0) + SPARE_METADATA_ROWS)

    def place(self, problems: Iterable[FieldProblem], fields: Mapping[str, str]) -> None:
        """Each service problem next to the form field its path names (``fields`` maps a dotted path to a field);
        one with no field on the form at the form's top."""
        for problem in problems:
            path = ".".join(map(str, problem.path))
            if path in fields:
                self.errors.setdefault(fields[path], problem.msg)
            else:
                self.alerts.append(f"{path}: {problem.msg}" if path else problem.msg)
