"""Wire types every Paid resource shares: camelCase fields, the ``{data, pagination}`` list envelope, the account
taken from the key, and ``limit``/``offset`` query parameters."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from checkstand.api.http.auth import CurrentPrincipal
from checkstand.core.pagination import MAX_LIMIT, MAX_OFFSET, Page, PageParams

T = TypeVar("T")


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
    def of(cls, page: Page[object], data: list[T]) -> PaidList[T]:
        """The envelope of ``page`` with its items already rendered as ``data``."""
        return cls(
            data=data,
            pagination=Pagination(limit=page.limit, offset=page.offset, total=page.total, has_more=page.has_more),
        )


async def key_account_id(principal: CurrentPrincipal) -> str:
    """Paid's paths carry no account: every call acts on the account of the secret key that signs it."""
    return principal.account_id


AccountId = Annotated[str, Depends(key_account_id)]


def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="How many objects to return.")] = 20,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="How many objects to skip.")] = 0,
) -> PageParams:
    return PageParams(limit=limit, offset=offset)


PaidPageParams = Annotated[PageParams, Depends(page_params)]
