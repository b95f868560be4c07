"""Every event type Checkstand emits, with what it means: the list merchants subscribe from (``event-types``).

A module that records a new type adds it here, so an endpoint can subscribe to it; ``*`` subscribes to all.
"""

from __future__ import annotations

ALL = "*"

EVENT_TYPES: dict[str, str] = {
    "checkout_session.created": "A checkout session was created.",
    "checkout_session.updated": "An open checkout session changed (a line item, its processor route).",
    "checkout_session.completed": "A checkout session was paid (or set up) and is complete.",
    "checkout_session.expired": "A checkout session passed its expiry time unpaid.",
    "checkout_attempt.created": "A customer started paying a checkout session.",
    "checkout_attempt.requires_action": "A payment attempt waits for the customer (3-D Secure).",
    "checkout_attempt.succeeded": "A customer's attempt to pay a checkout session succeeded.",
    "checkout_attempt.failed": "A customer's attempt to pay a checkout session failed.",
    "payment.succeeded": "A payment succeeded.",
    "payment.failed": "A payment failed.",
    "customer.created": "A customer was created.",
    "customer.updated": "A customer was updated.",
    "subscription.created": "A subscription was created.",
    "subscription.updated": "A subscription was updated (e.g. set to cancel at the period's end).",
    "subscription.canceled": "A subscription was canceled.",
    "product.created": "A product was created.",
    "product.updated": "A product was updated.",
    "product.archived": "A product was archived.",
    "price.created": "A price was created.",
    "price.updated": "A price was updated.",
    "product_family.created": "A product family was created.",
    "product_family.updated": "A product family was updated.",
    "product_family.deleted": "A product family was deleted.",
    "coupon.created": "A coupon was created.",
    "coupon.updated": "A coupon was updated.",
    "coupon.deleted": "A coupon was deleted (still readable, no longer usable).",
    "promotion_code.created": "A promotion code was created.",
    "promotion_code.updated": "A promotion code was updated.",
    "promotion_code.deleted": "A promotion code was deleted; its text is free again.",
    "processor.created": "A payment processor was connected.",
    "processor.updated": "A processor connection was updated.",
    "processor.deleted": "A processor was disconnected (deleted).",
    "processor_route.created": "A processor route was created.",
    "processor_route.updated": "A processor route was updated.",
    "processor_route.deleted": "A processor route was deleted.",
    "custom_field_definition.created": "A custom field definition was created.",
    "custom_field_definition.updated": "A custom field definition was updated.",
    "custom_field_definition.deleted": "A custom field definition was deleted.",
    "webhook_endpoint.created": "A webhook endpoint was created.",
    "webhook_endpoint.updated": "A webhook endpoint was updated.",
    "webhook_endpoint.deleted": "A webhook endpoint was deleted (deactivated).",
    "webhook_endpoint.disabled": "A webhook endpoint was disabled after failing for days without a success.",
}
