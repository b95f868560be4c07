"""One request, one unit of work.

The middleware lets the handler run, then commits *before* the response leaves, so a client never sees a success
that was not stored. A 4xx rolls back (bad input changes nothing) and a 5xx or an exception rolls back too. Services
only ``flush``; nothing else commits.

The database session is opened on first use (the :data:`Session` dependency), not for every request: a probe, a
stylesheet or a static file opens none and pays nothing for the unit of work.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Protocol

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from checkstand.db import Database

logger = logging.getLogger(__name__)

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class ResponseClaim(Protocol):
    """Something that wants the final response stored with the unit of work (an idempotency key)."""

    async def record(self, session: AsyncSession, status: int, body: bytes, content_type: str) -> None: ...

    async def release(self, session: AsyncSession) -> None: ...


CLAIM_STATE_KEY = "response_claim"
_FACTORY_STATE_KEY = "db_factory"
_SESSION_STATE_KEY = "db"


async def db_session(request: Request) -> AsyncSession:
    """Async so that FastAPI runs it on the event loop: a plain function would cost a thread hop per request."""
    state: dict[str, Any] = request.scope["state"]
    session: AsyncSession | None = state.get(_SESSION_STATE_KEY)
    if session is None:
        session = state[_SESSION_STATE_KEY] = state[_FACTORY_STATE_KEY]()
    return session


Session = Annotated[AsyncSession, Depends(db_session)]
"""The request's unit of work, as a handler or dependency parameter: ``session: Session``."""


class UnitOfWorkMiddleware:
    def __init__(self, app: ASGIApp, database: Database) -> None:
        self.app = app
        self.database = database

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state: dict[str, Any] = scope.setdefault("state", {})
        state[_FACTORY_STATE_KEY] = self.database.reading if scope["method"] in READ_METHODS else self.database.writing
        buffered: list[Message] = []

        async def hold(message: Message) -> None:
            buffered.append(message)

        try:
            await self.app(scope, receive, hold)
        except BaseException:
            if (session := state.get(_SESSION_STATE_KEY)) is not None:
                async with session:
                    await session.rollback()
                    await _release_claim(state, session)
            raise
        if (session := state.get(_SESSION_STATE_KEY)) is not None:
            async with session:
                status = next(m["status"] for m in buffered if m["type"] == "http.response.start")
                body = b"".join(m.get("body", b"") for m in buffered if m["type"] == "http.response.body")
                await _finish(state, session, status, body, _content_type(buffered))
        for message in buffered:
            await send(message)


async def _finish(state: dict[str, Any], session: AsyncSession, status: int, body: bytes, content_type: str) -> None:
    claim: ResponseClaim | None = state.get(CLAIM_STATE_KEY)
    if status >= 500:
        await session.rollback()
        await _release_claim(state, session)
        return
    if status >= 400:
        await session.rollback()
    if claim is not None:
        await claim.record(session, status, body, content_type)
    await session.commit()


async def _release_claim(state: dict[str, Any], session: AsyncSession) -> None:
    """A failed request leaves no trace, so the client may retry it with the same key."""
    claim: ResponseClaim | None = state.get(CLAIM_STATE_KEY)
    if claim is not None:
        await claim.release(session)
        await session.commit()


def _content_type(messages: list[Message]) -> str:
    start = next(m for m in messages if m["type"] == "http.response.start")
    for name, value in start.get("headers", []):
        if name.lower() == b"content-type":
            return str(value.decode("latin-1"))
    return "application/json"
