"""The dashboard mounted on the app: its pages, its static files, and the answers to a signed-out request and a
form without its CSRF token."""

from __future__ import annotations

from fastapi import FastAPI

from checkstand.dashboard import api_keys, auth, checkouts, events, home, webhooks
from checkstand.dashboard import brand as brand_pages
from checkstand.dashboard import coupons as coupon_pages
from checkstand.dashboard import custom_fields as custom_field_pages
from checkstand.dashboard import customers as customer_pages
from checkstand.dashboard import payment_links as payment_link_pages
from checkstand.dashboard import payments as payment_pages
from checkstand.dashboard import prices as price_pages
from checkstand.dashboard import processors as processor_pages
from checkstand.dashboard import product_families as family_pages
from checkstand.dashboard import products as product_pages
from checkstand.dashboard import promotion_codes as promotion_code_pages
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
    app.include_router(product_pages.router)
    app.include_router(price_pages.router)
    app.include_router(family_pages.router)
    app.include_router(payment_link_pages.router)
    app.include_router(processor_pages.router)
    # Before the coupons': "/coupons/promotion-codes" is not a coupon's id.
    app.include_router(promotion_code_pages.router)
    app.include_router(coupon_pages.router)
    app.include_router(custom_field_pages.router)
    app.include_router(brand_pages.router)
    app.mount(STATIC_PATH, STATIC, name="dashboard-static")
    app.add_exception_handler(SignInRequired, sign_in_required)
    app.add_exception_handler(CsrfRefused, csrf_refused)
