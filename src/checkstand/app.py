"""The ASGI application: routers, middleware, error handlers, and (optionally) the in-process worker."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand import __version__
from checkstand.api import public_checkout, stripe_webhooks
from checkstand.api.errors import install_error_handlers
from checkstand.api.http.idempotency import idempotency_guard
from checkstand.api.http.nul_guard import NulGuardMiddleware
from checkstand.api.http.request_context import RequestContextMiddleware
from checkstand.api.http.unit_of_work import UnitOfWorkMiddleware, db_session
from checkstand.api.paymentkit.routers import ROUTERS as PAYMENTKIT_ROUTERS
from checkstand.core.crypto import SecretBox
from checkstand.db import Database, connect
from checkstand.pages import checkout as checkout_page
from checkstand.pages import simulator_3ds
from checkstand.settings import Settings
from checkstand.worker import Worker


def create_app(settings: Settings, *, database: Database | None = None, run_worker: bool = False) -> FastAPI:
    """Build the app. ``database`` lets tests share an engine; by default one is made from ``settings``."""
    db = database or connect(settings.resolved_database_url)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        worker_task = None
        worker = Worker(db, settings)
        if run_worker:
            worker_task = asyncio.create_task(worker.run())
        try:
            yield
        finally:
            if worker_task is not None:
                worker.stop()
                await worker_task
            if database is None:
                await db.dispose()

    app = FastAPI(
        title="Checkstand",
        version=__version__,
        description="Self-hosted checkout: sessions, hosted pages, payments, subscriptions and signed webhooks.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.database = db
    app.state.secret_box = SecretBox(settings.resolved_secret_key)
    install_error_handlers(app)
    for router in PAYMENTKIT_ROUTERS:
        app.include_router(router, dependencies=[Depends(idempotency_guard)])
    # Public, keyed by the challenge token: no API key and no idempotency guard.
    app.include_router(simulator_3ds.router)
    # Public, proven by Stripe-Signature under the connection's webhook secret: no API key, no idempotency guard.
    app.include_router(stripe_webhooks.router)
    # Public, keyed by the session's secure token: what the hosted page calls.
    app.include_router(public_checkout.router)
    # Public, keyed by the session's secure token: the hosted checkout page and its stylesheet.
    app.include_router(checkout_page.router)
    app.mount(checkout_page.STATIC_PATH, checkout_page.STATIC, name="static")
    app.add_api_route("/healthz", healthz, methods=["GET"], tags=["health"])
    # Outermost last: the request id must exist before the unit of work logs or renders anything.
    app.add_middleware(UnitOfWorkMiddleware, database=db)
    app.add_middleware(NulGuardMiddleware)
    app.add_middleware(RequestContextMiddleware)
    return app


async def healthz(session: Annotated[AsyncSession, Depends(db_session)]) -> dict[str, str]:
    """Up and able to reach its database."""
    await session.execute(text("SELECT 1"))
    return {"status": "ok"}
