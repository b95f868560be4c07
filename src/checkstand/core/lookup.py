"""The two shapes every service's reads share: one object of the account or a 404, and a row locked for a change.

Services build the query (always filtered on the account); these say what happens when it finds nothing, and how a
row is held for the rest of the transaction.
"""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.core.errors import NotFound

T = TypeVar("T")


async def one_or_not_found(session: AsyncSession, query: Select[T], kind: str, object_id: str) -> T:
    """The object ``query`` finds, or :class:`NotFound` naming ``kind`` and the id the client sent."""
    found = await session.scalar(query)
    if found is None:
        raise NotFound(kind, object_id)
    return found


def locked(query: Select[T]) -> Select[T]:
    """``query`` locking its row for the rest of the transaction and re-reading it, so the state a caller checks is
    the state it changes. On PostgreSQL the lock is ``FOR NO KEY UPDATE``: Checkstand never changes a primary key,
    and the stronger ``FOR UPDATE`` would also wait on the key-share locks every insert of a row that references the
    locked one takes (an event, a payment), which deadlocked a renewal's settlement against a checkout's completion.
    SQLite's writers already run one at a time."""
    return query.with_for_update(key_share=True).execution_options(populate_existing=True)
