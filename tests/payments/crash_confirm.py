"""Test-only: start paying a session, let the processor charge, then die (SIGKILL) before the result is recorded.

Run as ``python -m tests.payments.crash_confirm DATABASE_URL SECURE_TOKEN``. It calls the attempt flow's own steps
one by one, so the production code carries no crash hook; the recovery test then settles what it left behind."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from checkstand.payments import flow as payment_flow
from checkstand.payments import leases
from tests import support
from tests.payments import flow


async def main(database_url: str, secure_token: str) -> None:
    database = support.connect_url(database_url)
    async with database.writing() as session:
        attempt, pending = await payment_flow.begin_attempt(
            session, secure_token, flow.paying(), public_url=flow.PUBLIC_URL, limits=flow.POLICY.rate_limits
        )
        await leases.hold(session, attempt.id, flow.POLICY.attempt_lease)
        await session.commit()
    assert pending is not None
    result = await payment_flow.call_processor(flow.gateway(database), pending)
    print(f"charged: {result.outcome.value}", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
