"""``Idempotency-Key`` on every POST/PUT/PATCH, in the manner of Stripe's idempotency design.

The key is claimed in a transaction of its own before the handler runs, so a concurrent duplicate sees the claim and
gets 409 instead of doing the work twice. The response is stored in the same transaction as the request's effects
(see :mod:`checkstand.api.http.unit_of_work`), so a replay always matches what was done. A request that fails with a 5xx
releases its claim, so it can be retried with the same key. Keys are kept for ``CHECKSTAND_IDEMPOTENCY_TTL_SECONDS``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from fastapi import Request
from fastapi.responses import Response
from sqlalchemy import ColumnElement, LargeBinary, String, and_, delete, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from checkstand.api.http.auth import CurrentPrincipal
from checkstand.api.http.unit_of_work import CLAIM_STATE_KEY, Session
from checkstand.api.http.validation import invalid_request
from checkstand.core import clock
from checkstand.core.errors import BusinessRuleViolation, Conflict
from checkstand.db import Base

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
GUARDED_METHODS = frozenset({"POST", "PUT", "PATCH"})
IN_PROGRESS = "in_progress"
COMPLETED = "completed"


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_keys"

    account_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH), primary_key=True)
    request_fingerprint: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    locked_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    response_status: Mapped[int | None]
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    response_content_type: Mapped[str | None] = mapped_column(String(100))


class IdempotentReplay(Exception):
    """The key was used before for this very request: answer with what was answered then."""

    def __init__(self, record: IdempotencyRecord) -> None:
        super().__init__(record.key)
        self.status = record.response_status or 200
        self.body = record.response_body or b""
        self.content_type = record.response_content_type or "application/json"

    def as_response(self) -> Response:
        return Response(
            content=self.body,
            status_code=self.status,
            media_type=self.content_type,
            headers={"Idempotent-Replayed": "true"},
        )


@dataclass(frozen=True)
class IdempotencyClaim:
    account_id: str
    key: str

    def _where(self) -> ColumnElement[bool]:
        return and_(IdempotencyRecord.account_id == self.account_id, IdempotencyRecord.key == self.key)

    async def record(self, session: AsyncSession, status: int, body: bytes, content_type: str) -> None:
        await session.execute(
            update(IdempotencyRecord)
            .where(self._where())
            .values(
                state=COMPLETED,
                response_status=status,
                response_body=body,
                response_content_type=content_type,
            )
        )

    async def release(self, session: AsyncSession) -> None:
        await session.execute(delete(IdempotencyRecord).where(self._where(), IdempotencyRecord.state == IN_PROGRESS))


async def idempotency_guard(request: Request, principal: CurrentPrincipal, session: Session) -> None:
    """Router dependency: claims the request's key (if any) before the handler runs."""
    key = request.headers.get(HEADER)
    if request.method not in GUARDED_METHODS or key is None:
        return
    if not 0 < len(key) <= MAX_KEY_LENGTH:
        raise invalid_request(("header", HEADER), f"must be 1 to {MAX_KEY_LENGTH} characters")
    settings = request.app.state.settings
    fingerprint = await _fingerprint(request)
    claim = await _claim(
        session,
        IdempotencyClaim(principal.account_id, key),
        fingerprint,
        ttl=timedelta(seconds=settings.idempotency_ttl_seconds),
        lock=timedelta(seconds=settings.idempotency_lock_seconds),
    )
    await session.commit()
    setattr(request.state, CLAIM_STATE_KEY, claim)


async def _fingerprint(request: Request) -> str:
    """What makes two requests "the same": method, path, query and the JSON body regardless of key order."""
    raw = await request.body()
    try:
        body = json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":")).encode() if raw else b""
    except ValueError:
        body = raw
    digest = hashlib.sha256()
    for part in (request.method.encode(), request.url.path.encode(), request.url.query.encode(), body):
        digest.update(part + b"\0")
    return digest.hexdigest()


async def _claim(
    session: AsyncSession, claim: IdempotencyClaim, fingerprint: str, *, ttl: timedelta, lock: timedelta
) -> IdempotencyClaim:
    now = clock.now()
    fresh = {
        "request_fingerprint": fingerprint,
        "state": IN_PROGRESS,
        "locked_at": now,
        "expires_at": now + ttl,
        "response_status": None,
        "response_body": None,
        "response_content_type": None,
    }
    existing = await session.get(IdempotencyRecord, (claim.account_id, claim.key))
    if existing is None:
        session.add(IdempotencyRecord(account_id=claim.account_id, key=claim.key, **fresh))
        try:
            await session.flush()
            return claim
        except IntegrityError:
            await session.rollback()
            existing = await session.get(IdempotencyRecord, (claim.account_id, claim.key), populate_existing=True)
            if existing is None:  # the racer that won has already released its claim
                raise _in_use(claim) from None

    if existing.expires_at <= now:
        # An expired key is free again; the conditional update lets one racer take it.
        if await _take_over(session, claim, IdempotencyRecord.expires_at <= now, fresh):
            return claim
        raise _in_use(claim)
    if existing.request_fingerprint != fingerprint:
        raise BusinessRuleViolation(
            f"Idempotency key {claim.key!r} was already used with a different request.",
            code="idempotency_key_reused",
        )
    if existing.state == COMPLETED:
        raise IdempotentReplay(existing)
    # In progress: another request holds it, unless that request died and its lock went stale.
    stale_before = now - lock
    if existing.locked_at <= stale_before and await _take_over(
        session, claim, IdempotencyRecord.locked_at <= stale_before, fresh
    ):
        return claim
    raise _in_use(claim)


async def _take_over(
    session: AsyncSession, claim: IdempotencyClaim, condition: ColumnElement[bool], values: dict[str, object]
) -> bool:
    result = await session.execute(update(IdempotencyRecord).where(claim._where(), condition).values(**values))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def _in_use(claim: IdempotencyClaim) -> Conflict:
    return Conflict(
        f"A request with idempotency key {claim.key!r} is still being processed; retry later.",
        code="idempotency_key_in_use",
    )


async def purge_expired(session: AsyncSession) -> int:
    """Forget keys past their time to live (the worker runs this)."""
    result = await session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.expires_at <= clock.now()))
    return int(result.rowcount)  # type: ignore[attr-defined]
