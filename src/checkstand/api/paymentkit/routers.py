"""Every PaymentKit resource router, in the order the API reference lists them."""

from fastapi import APIRouter

from checkstand.api.paymentkit import (
    accounts,
    checkout_attempts,
    checkout_sessions,
    coupons,
    custom_field_definitions,
    customers,
    events,
    prices,
    processor_routes,
    processors,
    product_families,
    products,
    promotion_codes,
    subscriptions,
    webhook_endpoints,
)

ROUTERS: list[APIRouter] = [
    accounts.router,
    products.router,
    prices.router,
    product_families.router,
    customers.router,
    custom_field_definitions.router,
    coupons.router,
    promotion_codes.router,
    events.router,
    webhook_endpoints.router,
    processors.router,
    processor_routes.router,
    checkout_sessions.router,
    checkout_attempts.router,
    subscriptions.router,
]
