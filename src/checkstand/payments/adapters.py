"""Reaching a processor: the :class:`Gateway` every step of the payment flow carries, and the adapter of a connection.

No processor call may run inside a database transaction: a slow processor would hold the locks every other request
waits for (on SQLite, the database-wide write lock). So the flow reads what it needs in a short transaction, closes
it, and only then asks the adapter, which gets the :class:`~checkstand.db.Database` rather than a caller's session:
the simulator, whose "network" is a table, opens its own short transactions on it.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from checkstand.core.crypto import SecretBox
from checkstand.db import Database
from checkstand.payments.policy import PaymentPolicy
from checkstand.processors.base import OutcomeUnknown, ProcessorAdapter
from checkstand.processors.connections import SIMULATOR, open_credentials
from checkstand.processors.models import Processor
from checkstand.processors.simulator import SimulatorProcessor
from checkstand.processors.stripe import StripeProcessor


@dataclass(frozen=True)
class Gateway:
    """What the flow needs to reach processors: its own database (each step is a transaction of its own), the
    public URL customers come back to, the key that opens processor credentials, and the operator's times and
    limits."""

    database: Database
    public_url: str
    box: SecretBox
    policy: PaymentPolicy
    lease_owner: str | None = None
    """Whose name the attempts this process drives are leased in (:class:`~checkstand.payments.leases.Owner`); None
    for a process that holds no instance."""


async def load_processor(gateway: Gateway, processor_id: str) -> Processor:
    """The connection as it is now, read in a transaction that is closed before the processor is called."""
    async with gateway.database.reading() as session:
        processor = await session.get(Processor, processor_id)
    assert processor is not None  # processors are never deleted, only disconnected
    return processor


@contextlib.asynccontextmanager
async def adapter_for(gateway: Gateway, processor: Processor) -> AsyncIterator[ProcessorAdapter]:
    """The processor's adapter for the span of a call; Stripe's HTTP client is closed after it."""
    if processor.type == SIMULATOR:
        yield SimulatorProcessor(gateway.database, processor, public_url=gateway.public_url)
        return
    credentials = open_credentials(gateway.box, processor)
    if credentials is None:
        # A disconnected Stripe processor forgot its key: nothing can be asked of it any more.
        raise OutcomeUnknown(f"processor {processor.id!r} has no credentials")
    allow_private = gateway.policy.processor_allow_private_urls
    async with StripeProcessor(credentials.secret_key, processor.api_base, allow_private_urls=allow_private) as stripe:
        yield stripe
