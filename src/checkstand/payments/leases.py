"""An attempt's lease: how recovery tells an attempt whose process is waiting on a processor from one whose process
died. The process that starts processing an attempt stamps a lease on it in the same transaction, and renews it
every third of its length while it waits on processors; recovery takes over only an attempt whose lease ran out, so
seconds after a crash, and never while its owner lives (a renewal would have to fail twice in a row first).

A restarted process need not wait for its predecessor's leases: a lease (of a checkout attempt, or of an off-session
charge) names its owner, ``<instance>/<process>``, where the instance is a slot only one live process holds at a
time (``checkstand serve``: the host name and the port; ``checkstand worker``: the host name and
``CHECKSTAND_INSTANCE_NAME``). A process proves it holds the instance by binding an abstract Unix socket named after
it (:func:`claim`), which the kernel frees only when the holder's process is gone, killed or drained and exited; so a
process that binds it knows every earlier process of the instance is dead, and ends their leases at once
(:func:`take_over`) for its first recovery round to settle. A process that can't bind it (its predecessor is still
draining, or the platform has no abstract sockets) claims nothing, and its own leases name no owner: they run out as
they always did. Host names must differ between the machines (and containers) that share a database."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import socket
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Final

from sqlalchemy import ColumnElement, update
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.core import clock
from checkstand.db import Database
from checkstand.payments.models import CHARGE_PENDING, PROCESSING, CheckoutAttempt, PaymentCharge

logger = logging.getLogger(__name__)

CLAIM_PREFIX: Final = "\0checkstand/"
"""The abstract socket (a leading NUL: Linux's namespace with no file behind it) that holds an instance; named by
the instance's digest, since a host name and a worker's name may be longer than a socket's name can be."""


@dataclass(frozen=True)
class Leased:
    """A kind of row that is leased while a process drives it, and the state in which its lease counts."""

    table: type[CheckoutAttempt] | type[PaymentCharge]
    live: ColumnElement[bool]
    noun: str


ATTEMPTS: Final = Leased(CheckoutAttempt, CheckoutAttempt.state == PROCESSING, "attempt")
CHARGES: Final = Leased(PaymentCharge, PaymentCharge.status == CHARGE_PENDING, "payment charge")


@dataclass(frozen=True)
class Owner:
    """This process as the holder of an instance: what its leases name."""

    instance: str
    process: str = field(default_factory=lambda: uuid.uuid4().hex)

    @property
    def id(self) -> str:
        return f"{self.instance}/{self.process}"


class InstanceClaim:
    """An instance held by this process for as long as the claim's socket stays bound."""

    def __init__(self, owner: Owner, held: socket.socket) -> None:
        self.owner = owner
        self._held = held

    def release(self) -> None:
        self._held.close()


def serve_instance(port: int) -> str:
    """The instance of a ``checkstand serve`` process: its host and port, which one process serves at a time."""
    return f"{socket.gethostname()}:serve:{port}"


def serve_instances(port: int, processes: int) -> tuple[str, ...]:
    """The instances the ``processes`` of one ``checkstand serve --workers N`` share out, one each: they all serve
    the port, so each needs a slot of its own, and a process restarted in a dead one's place takes that slot (the
    first free one) and its leases over."""
    if processes == 1:
        return (serve_instance(port),)
    return tuple(f"{serve_instance(port)}#{slot}" for slot in range(processes))


def worker_instance(name: str) -> str:
    """The instance of a ``checkstand worker`` process named by ``CHECKSTAND_INSTANCE_NAME`` on its host."""
    return f"{socket.gethostname()}:worker:{name}"


def claim(instance: str) -> InstanceClaim | None:
    """Hold ``instance``; None when a live process holds it, or when this platform has no abstract sockets."""
    if not sys.platform.startswith("linux"):
        return None
    held = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        held.bind(CLAIM_PREFIX + hashlib.sha256(instance.encode()).hexdigest())
    except OSError:
        held.close()
        return None
    return InstanceClaim(Owner(instance), held)


async def take_over(session: AsyncSession, owner: Owner) -> int:
    """End now the leases the instance's earlier processes hold (the caller holds the instance: they are dead), so
    the next recovery round settles their checkout attempts and off-session charges; the caller commits. Returns
    how many were freed."""
    now = clock.now()
    freed = 0
    for kind in (ATTEMPTS, CHARGES):
        table = kind.table
        result = await session.execute(
            update(table)
            .where(
                kind.live,
                table.lease_owner.startswith(f"{owner.instance}/", autoescape=True),
                table.lease_owner != owner.id,
                table.lease_expires_at > now,
            )
            .values(lease_expires_at=now)
            .execution_options(synchronize_session=False)
        )
        freed += int(result.rowcount)  # type: ignore[attr-defined]
    return freed


async def start(database: Database, *instances: str) -> InstanceClaim | None:
    """At a process's start, before it leases anything: hold the first free of ``instances`` and free what its
    earlier, dead, processes left leased. None when live processes hold them all: this one then names no owner on
    its leases."""
    held = next((taken for taken in map(claim, instances) if taken is not None), None)
    if held is None:
        logger.warning(
            "instance %s is held by a live process (or this platform can't tell): the payments this process leaves "
            "are settled once their leases run out",
            " or ".join(instances),
        )
        return None
    instance = held.owner.instance
    try:
        async with database.writing() as session:
            freed = await take_over(session, held.owner)
            await session.commit()
    except BaseException:
        held.release()
        raise
    if freed:
        logger.info("instance %s: %d payments its previous process left are handed to recovery", instance, freed)
    return held


async def hold(
    session: AsyncSession, row_id: str, lease: timedelta, owner: str | None = None, *, kind: Leased = ATTEMPTS
) -> None:
    """Stamp (or extend) the lease of a row still live (an attempt processing, by default), in ``owner``'s name;
    the caller commits."""
    table = kind.table
    await session.execute(
        update(table)
        .where(table.id == row_id, kind.live)
        .values(lease_expires_at=clock.now() + lease, lease_owner=owner)
        .execution_options(synchronize_session=False)
    )


@contextlib.asynccontextmanager
async def renewing(
    database: Database, row_id: str, lease: timedelta, owner: str | None = None, *, kind: Leased = ATTEMPTS
) -> AsyncIterator[None]:
    """Keep the row's lease alive, each renewal in a short transaction of its own, for the span of the block."""
    task = asyncio.create_task(_renew(database, row_id, lease, owner, kind))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _renew(database: Database, row_id: str, lease: timedelta, owner: str | None, kind: Leased) -> None:
    interval = lease.total_seconds() / 3
    while True:
        await asyncio.sleep(interval)
        try:
            async with database.writing() as session:
                await hold(session, row_id, lease, owner, kind=kind)
                await session.commit()
        except Exception:
            # The next renewal may succeed before the lease runs out; the call in hand goes on either way.
            logger.exception("could not renew the lease of %s %s", kind.noun, row_id)
