"""The criteria every list shares: a page, exact-match filters, a sort field and direction, and a search keyword
(``api/http/query.py`` reads them from the SDK's query string).

Each resource declares which fields may be filtered, sorted and searched (:class:`ListSpec`); anything else is
refused at ``filter`` or ``sort_by``, so a typo never silently returns everything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, or_
from sqlalchemy.orm import InstrumentedAttribute

from checkstand.core.errors import InvalidFields
from checkstand.core.pagination import PageParams

T = TypeVar("T")

Scalar = str | int | float | bool | None


@dataclass(frozen=True)
class ListParams:
    page: PageParams
    filters: dict[str, Scalar] = field(default_factory=dict)
    sort_by: str | None = None
    descending: bool = True
    search: str | None = None


@dataclass(frozen=True)
class ListSpec:
    """What a resource's list may be filtered, sorted and searched by (wire name -> column)."""

    filterable: dict[str, InstrumentedAttribute[Any]]
    sortable: dict[str, InstrumentedAttribute[Any]]
    searchable: tuple[InstrumentedAttribute[Any], ...] = ()
    created_at: InstrumentedAttribute[Any] | None = None
    tiebreak: InstrumentedAttribute[Any] | None = None


# The JSON values a filter may compare with a column, by the column's Python type. A mismatch would otherwise reach
# the database, where PostgreSQL refuses to compare (a 500) and SQLite silently matches nothing.
_FILTER_VALUES: dict[type, tuple[type, ...]] = {str: (str,), bool: (bool,), int: (int,), float: (int, float)}
_KINDS = {str: "a string", bool: "true or false", int: "an integer", float: "a number"}


def _python_type(column: InstrumentedAttribute[Any]) -> type | None:
    try:
        python_type: type = column.type.python_type
    except NotImplementedError:
        return None
    return python_type


def _fits(column: InstrumentedAttribute[Any], value: Scalar) -> bool:
    accepted = _FILTER_VALUES.get(_python_type(column) or object, ())
    # bool is an int to Python, but true is not a number to a JSON client.
    return isinstance(value, accepted) and (bool in accepted or not isinstance(value, bool))


def _kind(column: InstrumentedAttribute[Any]) -> str:
    return _KINDS.get(_python_type(column) or object, "null")


def filter_fields(spec: ListSpec) -> dict[str, tuple[type | None, int | None]]:
    """What each filterable field takes, for the edge to document and check before a query is built: the Python
    type a value must have (``None``: only null can match) and the longest value its column can hold (a longer one
    could never match, so refusing it is the honest answer)."""
    return {
        name: (_python_type(column), getattr(column.type, "length", None)) for name, column in spec.filterable.items()
    }


def contains(column: InstrumentedAttribute[Any], text: str) -> ColumnElement[bool]:
    """The column holds ``text`` anywhere, ignoring case; ``%`` and ``_`` in it are plain characters."""
    pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return column.ilike(pattern, escape="\\")


def apply_list_params(query: Select[T], spec: ListSpec, params: ListParams) -> Select[T]:
    """Filter, search and order ``query`` (already scoped to the account). Newest first unless asked otherwise."""
    for name, value in params.filters.items():
        column = spec.filterable.get(name)
        if column is None:
            allowed = ", ".join(sorted(spec.filterable)) or "nothing"
            raise InvalidFields.one(("filter",), f"cannot filter by {name!r}; filterable: {allowed}")
        if value is not None and not _fits(column, value):
            raise InvalidFields.one(("filter",), f"{name!r} must be {_kind(column)}")
        query = query.where(column.is_(None) if value is None else column == value)
    if params.search and spec.searchable:
        query = query.where(or_(*(contains(column, params.search) for column in spec.searchable)))
    order: list[ColumnElement[Any]] = []
    if params.sort_by is not None:
        column = spec.sortable.get(params.sort_by)
        if column is None:
            allowed = ", ".join(sorted(spec.sortable))
            raise InvalidFields.one(("sort_by",), f"cannot sort by {params.sort_by!r}; sortable: {allowed}")
        order.append(column.desc() if params.descending else column.asc())
    for column in (spec.created_at, spec.tiebreak):
        if column is not None:
            order.append(column.desc() if params.descending else column.asc())
    return query.order_by(*order)
