"""Wire types every Paid resource shares: camelCase fields, the ``{data, pagination}`` list envelope, the account
taken from the key, and ``limit``/``offset`` query parameters."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel
from pydantic.config import JsonDict

from checkstand.api.http.auth import CurrentPrincipal
from checkstand.core.errors import InvalidFields
from checkstand.core.money import to_major
from checkstand.core.pagination import MAX_LIMIT, MAX_OFFSET, Page, PageParams

T = TypeVar("T")


def _not_null(value: T | None) -> T:
    if value is None:
        raise ValueError("can't be null")
    return value


def _without_null(schema: JsonDict) -> None:
    """The field's schema less its ``null`` choice: the reference says what the server takes."""
    choices = [choice for choice in schema.pop("anyOf", []) if choice != {"type": "null"}]  # type: ignore[union-attr]
    if schema.get("default", ...) is None:
        del schema["default"]
    if len(choices) == 1 and isinstance(choices[0], dict):
        schema.update(choices[0])
    elif choices:
        schema["anyOf"] = choices


# An update's field that may be left out (it keeps its value) but not sent as null (the object can't be without one).
Omittable = Annotated[T | None, AfterValidator(_not_null), Field(json_schema_extra=_without_null)]


class PaidModel(BaseModel):
    """A Paid wire object: snake_case in Python, camelCase on the wire (``successUrl``), either accepted in."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True)


class PaidRequest(PaidModel):
    """A Paid request body: an unknown field is refused (a typo must not be silently ignored)."""

    model_config = ConfigDict(extra="forbid")


class Pagination(PaidModel):
    limit: int
    offset: int
    total: int
    has_more: bool


class PaidList(PaidModel, Generic[T]):
    data: list[T]
    pagination: Pagination

    @classmethod
    def of(cls, page: Page[Any], data: list[T]) -> PaidList[T]:
        """The envelope of ``page`` with its items already rendered as ``data``."""
        return cls(
            data=data,
            pagination=Pagination(limit=page.limit, offset=page.offset, total=page.total, has_more=page.has_more),
        )


async def key_account_id(principal: CurrentPrincipal) -> str:
    """Paid's paths carry no account: every call acts on the account of the secret key that signs it."""
    return principal.account_id


AccountId = Annotated[str, Depends(key_account_id)]


async def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="How many objects to return.")] = 20,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="How many objects to skip.")] = 0,
) -> PageParams:
    return PageParams(limit=limit, offset=offset)


PaidPageParams = Annotated[PageParams, Depends(page_params)]


def major_amount(amount_atom: int, currency: str) -> float:
    """An amount in the currency's major unit, as Paid's float amounts carry it (1999 USD is 19.99): exact in
    integers and decimals up to here, a float only as the wire's number."""
    return float(to_major(amount_atom, currency))


def iso_bound(value: str | None, field: str, *, end: bool) -> datetime | None:
    """A query's ISO 8601 date or date-time bound: a date is its whole day in UTC (to its last instant for an upper
    bound), a date-time without a zone is UTC."""
    if value is None:
        return None
    try:
        if len(value) == len("2026-06-30"):
            return datetime.combine(date.fromisoformat(value), time.max if end else time.min, UTC)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidFields.one((field,), "must be an ISO 8601 date or date-time, e.g. 2026-06-30") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
