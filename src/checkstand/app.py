"""The ASGI application: routers, middleware, error handlers, and (optionally) the in-process worker."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Final

from fastapi import Depends, FastAPI
from fastapi_offline import FastAPIOffline
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import Scope
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from checkstand import __version__, migrations
from checkstand.api import public_checkout, stripe_webhooks
from checkstand.api.error_responses import with_error_responses
from checkstand.api.errors import install_error_handlers
from checkstand.api.http import health, metrics
from checkstand.api.http.allowed_methods import AllowedMethodsMiddleware
from checkstand.api.http.body_limits import BodyLimitsMiddleware
from checkstand.api.http.compression import CompressionMiddleware
from checkstand.api.http.head import HeadAsGetMiddleware
from checkstand.api.http.idempotency import idempotency_guard
from checkstand.api.http.nul_guard import NulGuardMiddleware
from checkstand.api.http.request_context import RequestContextMiddleware
from checkstand.api.http.unhandled import UnhandledErrorMiddleware
from checkstand.api.http.unit_of_work import UnitOfWorkMiddleware
from checkstand.api.paid.errors import PREFIX as PAID_PREFIX
from checkstand.api.paid.routers import ROUTERS as PAID_ROUTERS
from checkstand.api.paymentkit.routers import ROUTERS as PAYMENTKIT_ROUTERS
from checkstand.api.server_error import internal_error_body
from checkstand.core.crypto import SecretBox
from checkstand.dashboard import routes as dashboard
from checkstand.dashboard import web as dashboard_web
from checkstand.db import Database, connect
from checkstand.pages import brand_images, simulator_3ds
from checkstand.pages import checkout as checkout_page
from checkstand.pages import errors as page_errors
from checkstand.pages import payment_links as payment_link_pages
from checkstand.payments import leases
from checkstand.receipts import outbox as receipt_outbox
from checkstand.settings import Settings
from checkstand.worker import Worker

# Swagger UI's and ReDoc's scripts and styles, served from fastapi-offline's copies: the docs work without a CDN.
DOCS_ASSETS_PATH: Final = "/docs/assets"


def create_app(
    settings: Settings, *, database: Database | None = None, run_worker: bool = False, instances: Sequence[str] = ()
) -> FastAPI:
    """Build the app. ``database`` lets tests share an engine; by default one is made from ``settings``.
    ``instances`` are the serving slots the process claims the first free one of at start
    (:mod:`checkstand.payments.leases`): ``checkstand serve`` names its host and port (and, with several processes,
    a slot each); an app in a test's process claims none."""
    db = database or connect(settings.resolved_database_url)
    if settings.smtp_url is not None:  # the payments its requests take owe receipts
        receipt_outbox.watch(db)

    @contextlib.asynccontextmanager
    async def lifespan(running: FastAPI) -> AsyncIterator[None]:
        claim = await leases.start(db, *instances) if instances else None
        running.state.lease_owner = claim.owner.id if claim is not None else None
        worker_task = None
        worker = Worker(db, settings, lease_owner=running.state.lease_owner)
        if run_worker:  # its first round settles at once what the claim took over
            worker_task = asyncio.create_task(worker.run())
        try:
            yield
        finally:
            if worker_task is not None:
                worker.stop()
                await worker_task
            if claim is not None:
                claim.release()
            if database is None:
                await db.dispose()

    app = FastAPIOffline(
        static_url=DOCS_ASSETS_PATH,
        title="Checkstand",
        version=__version__,
        description="Self-hosted checkout: sessions, hosted pages, payments, subscriptions and signed webhooks.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.database = db
    app.state.lease_owner = None
    app.state.secret_box = SecretBox(*settings.at_rest_keys)
    app.state.schema_head = migrations.head_revision()
    install_error_handlers(app)
    # FastAPI's documented way to amend the reference: the errors each operation can answer (api/error_responses.py).
    app.openapi = with_error_responses(app.openapi)  # type: ignore[method-assign]
    # Routes are matched one by one in the order they are added (about 1 ms for 300): the cheap and frequent ones
    # (probes, the hosted page and its calls, keyed by their own first segments) come before the API's routers.
    app.add_api_route("/healthz", health.healthz, methods=["GET"], tags=["health"])
    # Operators' probes, left out of the API reference (and so of the fuzzing, which would read a 503 as a bug).
    app.add_api_route("/readyz", health.readyz, methods=["GET"], include_in_schema=False)
    app.add_api_route(metrics.PATH, metrics.metrics, methods=["GET"], include_in_schema=False)
    # Public, keyed by the challenge token: no API key and no idempotency guard.
    app.include_router(simulator_3ds.router)
    # Public, proven by Stripe-Signature under the connection's webhook secret: no API key, no idempotency guard.
    app.include_router(stripe_webhooks.router)
    # Public, keyed by the session's secure token: what the hosted page calls.
    app.include_router(public_checkout.router)
    # Public, keyed by the session's secure token: the hosted checkout page and its stylesheet.
    app.include_router(checkout_page.router)
    # Public, keyed by the link's secure token: each visit opens a session and redirects to its hosted page.
    app.include_router(payment_link_pages.router)
    # Public, keyed by the image's digest: a merchant's uploaded logo or icon, as the hosted page shows it.
    app.include_router(brand_images.router)
    app.mount(checkout_page.STATIC_PATH, checkout_page.STATIC, name="static")
    for router in PAID_ROUTERS:
        app.include_router(router, prefix=PAID_PREFIX, dependencies=[Depends(idempotency_guard)])
    for router in PAYMENTKIT_ROUTERS:
        app.include_router(router, dependencies=[Depends(idempotency_guard)])
    # The merchant's dashboard: its own sign-in sessions and CSRF tokens, no API key.
    dashboard.install(app)
    # Outermost last: the request id must exist before the unit of work logs or renders anything; an unhandled
    # error is rendered inside the request context (so it carries X-Request-Id) and counted by the metrics.
    app.add_middleware(UnitOfWorkMiddleware, database=db)
    app.add_middleware(CompressionMiddleware)
    app.add_middleware(NulGuardMiddleware)
    app.add_middleware(BodyLimitsMiddleware, max_bytes=settings.max_request_bytes)
    app.add_middleware(AllowedMethodsMiddleware)
    app.add_middleware(UnhandledErrorMiddleware, respond=_internal_error)
    app.add_middleware(metrics.RequestMetricsMiddleware)
    app.add_middleware(HeadAsGetMiddleware)
    app.add_middleware(RequestContextMiddleware)
    if settings.trusted_proxies:
        # Outermost: every layer, and each limit counted per address (api/http/client_address.py), sees the client.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)
    return app


def create_metrics_app(settings: Settings, database: Database) -> FastAPI:
    """What a standalone ``checkstand worker`` serves: ``/metrics`` alone, so its own counters (webhook deliveries,
    recovered payments) can be scraped too. The same settings decide whether and for whom it answers."""
    app = FastAPI(title="Checkstand worker", version=__version__, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.state.database = database
    install_error_handlers(app)
    app.add_api_route(metrics.PATH, metrics.metrics, methods=["GET"])
    app.add_middleware(UnitOfWorkMiddleware, database=database)
    app.add_middleware(UnhandledErrorMiddleware, respond=_internal_error)
    app.add_middleware(RequestContextMiddleware)
    return app


def _internal_error(scope: Scope, request_id: str) -> Response:
    """A customer on a hosted page gets a page to read; anyone else the API's error body."""
    if page_errors.is_page(scope["path"]) or dashboard_web.is_dashboard(scope["path"]):
        return page_errors.server_error_page(request_id, Headers(scope=scope).get("accept-language"))
    return internal_error_body(request_id)
