"""``limit``/``offset`` pagination, the same query for both dialects; each dialect renders its own envelope."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")

MAX_LIMIT = 100
# Far beyond any real list, and inside every database's integer range (SQLite overflows past 2**63).
MAX_OFFSET = 2**31 - 1


@dataclass(frozen=True)
class PageParams:
    limit: int = 20
    offset: int = 0


@dataclass(frozen=True)
class Page(Generic[T]):
    items: Sequence[T]
    total: int
    limit: int
    offset: int

    @property
    def has_more(self) -> bool:
        return self.offset + len(self.items) < self.total


async def paginate(session: AsyncSession, query: Select[T], params: PageParams) -> Page[T]:
    """Run ``query`` (already filtered and ordered) for one page, with the total it would match unpaged."""
    total = await session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    rows = (await session.scalars(query.limit(params.limit).offset(params.offset))).all()
    return Page(items=rows, total=total or 0, limit=params.limit, offset=params.offset)
