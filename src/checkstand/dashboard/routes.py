"""The dashboard mounted on the app: its pages, its static files, and the answers to a signed-out request and a
form without its CSRF token."""

from __future__ import annotations

from fastapi import FastAPI

from checkstand.dashboard import api_keys, auth, checkouts, events, home, webhooks
from checkstand.dashboard import customers as customer_pages
from checkstand.dashboard import payments as payment_pages
from checkstand.dashboard import subscriptions as subscription_pages
from checkstand.dashboard.web import STATIC, STATIC_PATH, CsrfRefused, SignInRequired, csrf_refused, sign_in_required


def install(app: FastAPI) -> None:
    for router in (auth.router, home.router, checkouts.router):
        app.include_router(router)
    app.include_router(webhooks.router)
    app.include_router(events.router)
    app.include_router(api_keys.router)
    app.include_router(payment_pages.router)
    app.include_router(subscription_pages.router)
    app.include_router(customer_pages.router)
    app.mount(STATIC_PATH, STATIC, name="dashboard-static")
    app.add_exception_handler(SignInRequired, sign_in_required)
    app.add_exception_handler(CsrfRefused, csrf_refused)
