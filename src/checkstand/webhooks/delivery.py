"""Sending webhooks: claim due deliveries, sign and POST them, record what came of it, retry with backoff.

A worker claims deliveries in a short transaction of its own: it takes rows that are due and not held by anyone
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so workers side by side never take the same row; SQLite serialises
writers anyway) and writes a lease on them (``locked_until``, ``locked_by``). It sends outside any transaction,
then records the attempt and the delivery's new state in another, but only while it still holds the lease. A
worker killed mid-send leaves its lease to run out, and the delivery is claimed again: at least once, never lost.
Receivers dedupe on ``webhook-id`` (the event id), which is the same on every attempt.

Order: a delivery is not claimed while an earlier event of the same aggregate is still pending to the same
endpoint, so a receiver never learns of ``checkout_session.completed`` before ``checkout_session.created``.

The body is the event as the endpoint's dialect renders it (:data:`WebhookBody`: the SDK's ``Event`` for PaymentKit,
Paid's envelope for Paid), given to the :class:`Dispatcher` by the entry point that starts the worker, one per
dialect: this module sends what it is handed. Requests are signed as the endpoint's dialect signs
(:mod:`checkstand.webhooks.signing`). A 2xx is success; 5xx, 408, 429, timeouts and connection errors
are retried with exponential backoff and jitter for ``webhook_retry_window_seconds``; anything else (other 4xx, a
redirect) is final, as waiting won't change it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, cast
from urllib.parse import urlsplit

import httpx
from sqlalchemy import Select, Table, bindparam, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from checkstand.core import clock
from checkstand.core.crypto import SecretBox
from checkstand.core.ids import new_id
from checkstand.db import Database
from checkstand.events.models import Event
from checkstand.observability.metrics import WEBHOOK_DELIVERIES
from checkstand.settings import Settings
from checkstand.webhooks.egress import delivery_client
from checkstand.webhooks.endpoints import mark_failing, mark_healthy, signing_secrets
from checkstand.webhooks.models import (
    FAILED,
    PENDING,
    SUCCEEDED,
    WebhookDelivery,
    WebhookDeliveryAttempt,
    WebhookEndpoint,
)
from checkstand.webhooks.signing import SIGNATURE_HEADERS

logger = logging.getLogger(__name__)

RESPONSE_PREFIX_BYTES: Final = 2048
RECORD_BATCH: Final = 200
RETRYABLE_STATUSES: Final = frozenset({408, 429})
# Not for secrets: jitter only has to differ between deliveries; SystemRandom needs no seeding across forks.
_random = secrets.SystemRandom()

WebhookBody = Callable[[AsyncSession, Event, WebhookEndpoint], Awaitable[bytes]]
"""A dialect's rendering of an event as the body of a delivery to one of its endpoints, reading what it needs in
the claiming transaction; the entry point that starts a worker gives one per dialect (``WebhookEndpoint.dialect``)."""


@dataclass(frozen=True)
class RetryPolicy:
    base: timedelta
    max_delay: timedelta
    window: timedelta

    @classmethod
    def of(cls, settings: Settings) -> RetryPolicy:
        return cls(
            base=timedelta(seconds=settings.webhook_retry_base_seconds),
            max_delay=timedelta(seconds=settings.webhook_retry_max_delay_seconds),
            window=timedelta(seconds=settings.webhook_retry_window_seconds),
        )


def backoff(attempt: int, policy: RetryPolicy, jitter: float) -> timedelta:
    """The wait after failed attempt number ``attempt`` (1-based): ``base * 2**(attempt-1)``, capped at
    ``max_delay``, then scaled into its upper half by ``jitter`` in [0, 1] ("equal jitter"). Deliveries that
    failed together (a receiver went down) then come back spread out instead of in one wave."""
    exponent = min(attempt - 1, 64)  # 2**64 base periods exceed any cap; a larger power would only overflow
    ceiling = min(policy.max_delay.total_seconds(), policy.base.total_seconds() * 2.0**exponent)
    return timedelta(seconds=ceiling * (0.5 + 0.5 * jitter))


def is_retryable(status: int | None) -> bool:
    """``None`` is no response at all: a timeout or a connection error."""
    return status is None or status >= 500 or status in RETRYABLE_STATUSES


@dataclass(frozen=True)
class DeliveryJob:
    """A claimed delivery with everything needed to send it, so sending needs no database."""

    delivery_id: str
    account_id: str
    endpoint_id: str
    event_id: str
    url: str
    dialect: str
    body: bytes
    signing: list[str]
    attempt: int
    retrying_since: datetime | None


@dataclass(frozen=True)
class AttemptResult:
    started_at: datetime
    duration_ms: int
    status: int | None
    body: str | None
    error: str | None

    @property
    def succeeded(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def _due_now() -> Select[str]:
    """Whether any delivery is due: it may still be held or waiting its turn, but it is worth a claim."""
    return (
        select(WebhookDelivery.id)
        .where(WebhookDelivery.status == PENDING, WebhookDelivery.next_attempt_at <= clock.now())
        .limit(1)
    )


@dataclass(frozen=True)
class Claimed:
    """A claimed delivery, its event and its endpoint as the claim read them, before its body is rendered."""

    delivery: WebhookDelivery
    event: Event
    endpoint: WebhookEndpoint
    signing: list[str]


async def claim(
    session: AsyncSession, *, worker_id: str, limit: int, lease: timedelta, box: SecretBox
) -> list[Claimed]:
    """Take up to ``limit`` due deliveries for ``worker_id`` until ``lease`` has passed."""
    now = clock.now()
    # The first pending event of the delivery's aggregate to its endpoint: only that one may go. A scalar subquery
    # rather than NOT EXISTS: PostgreSQL plans it per row on the ordering index whatever its statistics say, where
    # an anti-join planned on a fresh, unanalysed table can scan every pending row for every candidate.
    head = aliased(WebhookDelivery)
    first_pending = (
        select(func.min(head.event_seq))
        .where(
            head.endpoint_id == WebhookDelivery.endpoint_id,
            head.aggregate_id == WebhookDelivery.aggregate_id,
            head.status == PENDING,
        )
        .scalar_subquery()
    )
    rows = (
        await session.execute(
            select(WebhookDelivery, Event, WebhookEndpoint)
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
            .join(Event, Event.id == WebhookDelivery.event_id)
            .where(
                WebhookDelivery.status == PENDING,
                WebhookDelivery.next_attempt_at <= now,
                or_(WebhookDelivery.locked_until.is_(None), WebhookDelivery.locked_until <= now),
                WebhookEndpoint.is_active.is_(True),
                WebhookDelivery.event_seq == first_pending,
            )
            .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.event_seq)
            .limit(limit)
            .with_for_update(skip_locked=True, of=WebhookDelivery)
        )
    ).all()
    if not rows:
        return []
    await session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id.in_([delivery.id for delivery, _, _ in rows]))
        .values(locked_until=now + lease, locked_by=worker_id)
        .execution_options(synchronize_session=False)
    )
    signing = await signing_secrets(session, {delivery.endpoint_id for delivery, _, _ in rows}, box)
    return [Claimed(delivery, event, endpoint, signing[delivery.endpoint_id]) for delivery, event, endpoint in rows]


async def render_jobs(
    session: AsyncSession, claimed: Sequence[Claimed], render: Mapping[str, WebhookBody]
) -> list[DeliveryJob]:
    """Each claimed delivery with its body as ``render`` makes it for the endpoint's dialect, rendered once per
    event and wire shape. Run in a reading transaction after the claim's has committed: a dialect may read the
    object an event is about, which must not lengthen the claim's write transaction (SQLite's write lock, the
    claimed rows' locks). A delivery whose body can't be rendered stays claimed, so it is tried again once its lease
    has run out (and holds back the later events of its aggregate meanwhile)."""
    bodies: dict[tuple[str, str, str | None], bytes] = {}
    jobs = []
    for held in claimed:
        delivery, event, endpoint = held.delivery, held.event, held.endpoint
        shape = (event.id, endpoint.dialect, endpoint.paid_name)
        if shape not in bodies:
            try:
                bodies[shape] = await render[endpoint.dialect](session, event, endpoint)
            except Exception:
                logger.exception(
                    "could not render event %s for endpoint %s; tried after its lease", event.id, endpoint.id
                )
                continue
        jobs.append(
            DeliveryJob(
                delivery_id=delivery.id,
                account_id=delivery.account_id,
                endpoint_id=delivery.endpoint_id,
                event_id=delivery.event_id,
                url=endpoint.url,
                dialect=endpoint.dialect,
                body=bodies[shape],
                signing=held.signing,
                attempt=delivery.attempt_count + 1,
                retrying_since=delivery.retrying_since,
            )
        )
    return jobs


async def send(client: httpx.AsyncClient, job: DeliveryJob, *, seconds: float) -> AttemptResult:
    """One POST, bounded by ``seconds`` in total (a receiver that trickles its answer can't hold a worker)."""
    started_at = clock.now()
    started = time.perf_counter()
    status: int | None = None
    body: str | None = None
    error: str | None = None
    try:
        async with (
            asyncio.timeout(seconds),
            client.stream(
                "POST",
                job.url,
                content=job.body,
                headers=SIGNATURE_HEADERS[job.dialect](job.event_id, job.body, job.signing, started_at),
            ) as response,
        ):
            status = response.status_code
            body = await _response_prefix(response)
        if not 200 <= status < 300:
            error = f"HTTP {status}"
    except TimeoutError:
        error = f"timed out after {seconds:g} s"
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        error = f"{type(exc).__name__}: {exc}"[:500]
    return AttemptResult(
        started_at=started_at,
        duration_ms=round((time.perf_counter() - started) * 1000),
        status=status,
        body=body,
        error=error,
    )


async def _response_prefix(response: httpx.Response) -> str:
    """The first 2 KB of the answer: enough to see an error page, never a flood kept in the database."""
    kept = b""
    async for chunk in response.aiter_bytes():
        kept += chunk
        if len(kept) >= RESPONSE_PREFIX_BYTES:
            break
    return kept[:RESPONSE_PREFIX_BYTES].decode("utf-8", errors="replace")


def _outcome(job: DeliveryJob, result: AttemptResult, policy: RetryPolicy, jitter: float) -> dict[str, Any]:
    """The delivery's new state after this attempt: succeeded, pending a retry, or failed."""
    state: dict[str, Any] = {"status": FAILED, "next_attempt_at": None, "retrying_since": None, "delivered_at": None}
    if result.succeeded:
        state.update(status=SUCCEEDED, delivered_at=result.started_at)
    elif is_retryable(result.status):
        since = job.retrying_since or result.started_at
        retry_at = clock.now() + backoff(job.attempt, policy, jitter)
        if retry_at <= since + policy.window:
            state.update(status=PENDING, next_attempt_at=retry_at, retrying_since=since)
    return state


_deliveries = cast(Table, WebhookDelivery.__table__)
_attempts = cast(Table, WebhookDeliveryAttempt.__table__)
_table = _deliveries.c
# One statement for a batch of deliveries, each with its own values; the lease condition leaves alone a delivery
# whose lease ran out and was taken over (this worker was presumed dead).
_RECORD = (
    update(_deliveries)
    .where(_table.id == bindparam("b_id"), _table.locked_by == bindparam("b_worker"))
    .values(
        status=bindparam("b_status"),
        attempt_count=bindparam("b_attempt"),
        last_attempt_at=bindparam("b_started_at"),
        delivered_at=func.coalesce(bindparam("b_delivered_at", type_=_table.delivered_at.type), _table.delivered_at),
        next_attempt_at=bindparam("b_next_attempt_at"),
        retrying_since=bindparam("b_retrying_since"),
        response_status=bindparam("b_response_status"),
        error=bindparam("b_error"),
        locked_until=None,
        locked_by=None,
    )
)


async def record(
    session: AsyncSession,
    finished: Sequence[tuple[DeliveryJob, AttemptResult]],
    *,
    worker_id: str,
    policy: RetryPolicy,
    jitter: Callable[[], float],
) -> list[str]:
    """Write a batch of attempts and move each delivery on; returns each one's new status. Batching keeps the
    cost per delivery to a fraction of a transaction when many are in flight."""
    outcomes = [_outcome(job, result, policy, jitter()) for job, result in finished]
    connection = await session.connection()
    await connection.execute(
        _RECORD,
        [
            {
                "b_id": job.delivery_id,
                "b_worker": worker_id,
                "b_status": outcome["status"],
                "b_attempt": job.attempt,
                "b_started_at": result.started_at,
                "b_delivered_at": outcome["delivered_at"],
                "b_next_attempt_at": outcome["next_attempt_at"],
                "b_retrying_since": outcome["retrying_since"],
                "b_response_status": result.status,
                "b_error": result.error,
            }
            for (job, result), outcome in zip(finished, outcomes, strict=True)
        ],
    )
    await connection.execute(
        insert(_attempts),
        [
            {
                "id": new_id("whatt"),
                "account_id": job.account_id,
                "delivery_id": job.delivery_id,
                "number": job.attempt,
                "worker_id": worker_id,
                "url": job.url,
                "started_at": result.started_at,
                "duration_ms": result.duration_ms,
                "response_status": result.status,
                "response_body": result.body,
                "error": result.error,
                "outcome": outcome["status"],
            }
            for (job, result), outcome in zip(finished, outcomes, strict=True)
        ],
    )
    await _track_health(session, finished)
    return [outcome["status"] for outcome in outcomes]


async def _track_health(session: AsyncSession, finished: Sequence[tuple[DeliveryJob, AttemptResult]]) -> None:
    """Each endpoint's run of failures ends with a success and starts with the first failure after it."""
    by_endpoint: dict[str, list[AttemptResult]] = {}
    for job, result in finished:
        by_endpoint.setdefault(job.endpoint_id, []).append(result)
    for endpoint_id, results in by_endpoint.items():
        results.sort(key=lambda result: result.started_at)
        last_success = max((i for i, result in enumerate(results) if result.succeeded), default=None)
        if last_success is not None:
            await mark_healthy(session, endpoint_id)
        failures_after = results[last_success + 1 :] if last_success is not None else results
        if failures_after:
            await mark_failing(session, endpoint_id, failures_after[0].started_at)


# Each attempt's outcome as /metrics counts it: the delivery's status after it, or "unrecorded" (None).
_OUTCOME_LABELS: Final = {SUCCEEDED: "succeeded", PENDING: "retrying", FAILED: "failed"}
_NEXT_STEP: Final = {PENDING: "retried later", FAILED: "given up"}


def _log_failure(job: DeliveryJob, result: AttemptResult, outcome: str | None) -> None:
    """A warning an operator can act on, without a secret: the endpoint's URL may carry a token in its path or
    query, so only its origin is named."""
    parts = urlsplit(job.url)
    origin = f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}"
    logger.warning(
        "webhook delivery %s (event %s, attempt %d) to endpoint %s at %s failed: %s; %s",
        job.delivery_id,
        job.event_id,
        job.attempt,
        job.endpoint_id,
        origin,
        (result.error or "").replace(job.url, origin),
        _NEXT_STEP.get(outcome or "", "not recorded, sent again after its lease"),
    )


@dataclass
class _Finished:
    job: DeliveryJob
    result: AttemptResult
    recorded: asyncio.Future[str | None]


class Dispatcher:
    """A worker's delivery loop: keeps up to ``webhook_concurrency`` deliveries in flight, so one slow receiver
    never holds up the others, and records them in batches as they finish."""

    def __init__(
        self, database: Database, settings: Settings, *, worker_id: str, render: Mapping[str, WebhookBody]
    ) -> None:
        self.database = database
        self.worker_id = worker_id
        self.render = render
        self.box = SecretBox(*settings.at_rest_keys)
        self.policy = RetryPolicy.of(settings)
        self.timeout = settings.webhook_timeout_seconds
        self.lease = timedelta(seconds=settings.webhook_lease_seconds)
        self.concurrency = settings.webhook_concurrency
        self.poll_seconds = settings.webhook_poll_seconds
        self.allow_private_urls = settings.webhook_allow_private_urls

    @contextlib.asynccontextmanager
    async def _session(self) -> AsyncIterator[tuple[httpx.AsyncClient, asyncio.Queue[_Finished | None]]]:
        """An HTTP client and a running recorder, both closed on the way out (after everything is recorded)."""
        limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
        finished: asyncio.Queue[_Finished | None] = asyncio.Queue()
        client = delivery_client(timeout=self.timeout, limits=limits, allow_private=self.allow_private_urls)
        async with client:
            recorder = asyncio.create_task(self._record_batches(finished))
            try:
                yield client, finished
            finally:
                finished.put_nowait(None)
                await recorder

    async def _claim(self, limit: int) -> list[DeliveryJob]:
        async with self.database.writing() as session:
            claimed = await claim(session, worker_id=self.worker_id, limit=limit, lease=self.lease, box=self.box)
            await session.commit()
        if not claimed:
            return []
        async with self.database.reading() as session:
            return await render_jobs(session, claimed, self.render)

    async def _deliver(
        self, client: httpx.AsyncClient, finished: asyncio.Queue[_Finished | None], job: DeliveryJob
    ) -> None:
        """Send, then wait until the attempt is recorded: until then the delivery still counts as in flight."""
        result = await send(client, job, seconds=self.timeout)
        recorded: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        finished.put_nowait(_Finished(job, result, recorded))
        outcome = await recorded
        WEBHOOK_DELIVERIES.labels(_OUTCOME_LABELS.get(outcome or "", "unrecorded")).inc()
        if not result.succeeded:
            _log_failure(job, result, outcome)

    async def _record_batches(self, finished: asyncio.Queue[_Finished | None]) -> None:
        """Record whatever has finished, in one transaction per batch, until told to stop (``None``)."""
        stopping = False
        while not stopping:
            batch: list[_Finished] = []
            item = await finished.get()
            while item is not None:
                batch.append(item)
                if finished.empty() or len(batch) >= RECORD_BATCH:
                    break
                item = finished.get_nowait()
            stopping = item is None
            if batch:
                await self._record(batch)

    async def _record(self, batch: list[_Finished]) -> None:
        outcomes: list[str | None]
        try:
            async with self.database.writing() as session:
                outcomes = list(
                    await record(
                        session,
                        [(item.job, item.result) for item in batch],
                        worker_id=self.worker_id,
                        policy=self.policy,
                        jitter=_random.random,
                    )
                )
                await session.commit()
        except Exception:
            # The leases run out and another round sends these again: duplicates the receiver dedupes, not losses.
            logger.exception("could not record %d deliveries; they are retried after their lease", len(batch))
            outcomes = [None] * len(batch)
        for item, outcome in zip(batch, outcomes, strict=True):
            if not item.recorded.done():  # its sender may have been cancelled meanwhile
                item.recorded.set_result(outcome)

    async def deliver_due(self) -> int:
        """Deliver everything due now, round after round, and say how many attempts were made (for tests and
        ``Worker.run_once``)."""
        done = 0
        async with self._session() as (client, finished):
            while jobs := await self._claim(self.concurrency):
                await asyncio.gather(*(self._deliver(client, finished, job) for job in jobs))
                done += len(jobs)
        return done

    async def run(self, stopping: asyncio.Event) -> None:
        """Deliver until ``stopping`` is set, then finish what is in flight (each attempt is bounded by the
        timeout) and return. Nothing claimed is left unsent."""
        in_flight: set[asyncio.Task[None]] = set()
        stop = asyncio.create_task(stopping.wait())
        # Claiming again for every single completion would cost a transaction per delivery; wait for a few slots.
        refill_at = max(1, self.concurrency // 4)
        idle = False
        try:
            async with self._session() as (client, finished):
                while not stopping.is_set():
                    free = self.concurrency - len(in_flight)
                    claimed: list[DeliveryJob] = []
                    # Idle, a cheap read decides whether a claim (a write transaction) is worth it.
                    if (free >= refill_at or not in_flight) and (not idle or await self._anything_due()):
                        claimed = await self._claim_or_log(free)
                        in_flight.update(asyncio.create_task(self._deliver(client, finished, job)) for job in claimed)
                    idle = not claimed and not in_flight
                    saturated = bool(claimed) and len(claimed) == free
                    done, _ = await asyncio.wait(
                        {*in_flight, stop},
                        timeout=None if saturated else self.poll_seconds,
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                    in_flight.difference_update(done)
                if in_flight:
                    logger.info("finishing %d deliveries in flight before stopping", len(in_flight))
                    await asyncio.wait(in_flight)
        finally:
            stop.cancel()

    async def _anything_due(self) -> bool:
        try:
            async with self.database.reading() as session:
                return await session.scalar(_due_now()) is not None
        except Exception:
            logger.exception("could not look for due deliveries; trying again shortly")
            return False

    async def _claim_or_log(self, limit: int) -> list[DeliveryJob]:
        try:
            return await self._claim(limit)
        except Exception:
            logger.exception("could not claim deliveries; trying again shortly")
            return []
