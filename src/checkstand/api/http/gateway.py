"""The payment flow's :class:`~checkstand.payments.adapters.Gateway` for a request: the app's database, public URL,
at-rest key and payment policy. The flow opens its own short transactions on that database instead of using the
request's unit of work, because it commits before each processor call and calls processors with no transaction
open."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from checkstand.payments.adapters import Gateway
from checkstand.payments.policy import PaymentPolicy


def payment_gateway(request: Request) -> Gateway:
    return Gateway(
        database=request.app.state.database,
        public_url=request.app.state.settings.resolved_public_url,
        box=request.app.state.secret_box,
        policy=PaymentPolicy.of(request.app.state.settings),
        lease_owner=request.app.state.lease_owner,
    )


async def _request_gateway(request: Request) -> Gateway:
    """The dependency: async, so FastAPI resolves it on the event loop rather than in a worker thread."""
    return payment_gateway(request)


PaymentGateway = Annotated[Gateway, Depends(_request_gateway)]
"""A handler parameter: ``gateway: PaymentGateway``."""
