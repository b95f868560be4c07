"""Imports every PaymentKit resource module, so each registers how its objects appear in events
(``@event_payload`` in :mod:`checkstand.webhooks.service`)."""

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

__all__ = [
    "accounts",
    "checkout_attempts",
    "checkout_sessions",
    "coupons",
    "custom_field_definitions",
    "customers",
    "events",
    "prices",
    "processor_routes",
    "processors",
    "product_families",
    "products",
    "promotion_codes",
    "subscriptions",
    "webhook_endpoints",
]
