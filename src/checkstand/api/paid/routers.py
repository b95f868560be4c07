"""Every Paid resource router, mounted at ``/api/v2`` ahead of the PaymentKit dialect (whose
``/api/{account_id}/...`` would otherwise take ``v2`` for an account id)."""

from fastapi import APIRouter

from checkstand.api.paid import (
    amendments,
    checkouts,
    customers,
    orders,
    payment_methods,
    payments,
    plans,
    pricing,
    products,
    signals,
    webhooks,
)

ROUTERS: list[APIRouter] = [
    amendments.router,
    checkouts.router,
    customers.router,
    orders.router,
    payment_methods.router,
    payments.router,
    plans.router,
    pricing.router,
    products.router,
    signals.router,
    webhooks.router,
]
