"""Schemathesis generates input for every operation of ``/openapi.json`` and sends it to a real server on both
backends: input the reference calls valid, input it calls invalid, and valid input with one value (a parameter, a
body's field at any depth, an id) swapped for what an attacker types (tests/hostile_input.py: other scripts' digits,
confusables, huge numbers, deep nesting, NULs). Whatever arrives, the answer is never a 5xx, and it is what the
reference says it can be (a documented status, with the documented body). Valid input is never refused at a
parameter: the reference is no looser than the server. The path's ids name real objects made first, so generated
input reaches the handlers rather than stopping at a 404; a method a path doesn't have is a 405 naming those it has.

One test per operation and kind of input (pytest-xdist spreads them), a few examples each: breadth over every
operation, as tests/hostile_input.py's property tests go deep on the public forms."""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import Case
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.specs.openapi.schemas import OpenApiSchema

from checkstand.app import create_app
from checkstand.settings import Settings
from tests.conftest import bearer
from tests.hostile_input import hostile_json, hostile_text
from tests.support import Server

EXAMPLES_PER_OPERATION = 5
# The first /openapi.json builds the schema of ~300 operations: seconds on a busy 2-core machine.
OPENAPI_TIMEOUT_SECONDS = 120
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
HTTP_METHODS = ("get", "put", "post", "delete", "patch")
# Valid input; input the schema calls invalid; valid input with one value swapped for what an attacker types.
MODES = {"valid": GenerationMode.POSITIVE, "invalid": GenerationMode.NEGATIVE, "hostile": GenerationMode.POSITIVE}
# A path id is any text but one that makes another path: httpx resolves dots, a slash or nothing is another route,
# and schemathesis leaves "#" and "?" as they are, ending the path.
path_text = hostile_text.filter(lambda text: text.strip(".") != "" and not {"/", "#", "?"} & set(text))
PAID_PREFIX = "/api/v2/"
# Where a request's parts are: a valid value refused at one of them means the reference promises more than the
# server takes. A 422 at the body as a whole (``loc: ["body"]``) is a business rule's, which no schema states.
REQUEST_LOCATIONS = frozenset({"path", "query", "header", "body"})
# Body fields a valid value can still be refused at, by operation, each for a rule JSON Schema can't state. A field
# is named by its loc past "body", list indexes as 0; an object whose keys the account or another field defines
# (custom_fields, constraints) by its own name.
ROW = "an id of an object the account has"
KEYS = "keys the account's custom field definitions, or the field's data_type, define"
BY_TYPE = "what a processor of that type takes"
CLOCK = "a time after now"
PACKAGE_RULES: dict[tuple[str | int, ...], str] = {
    ("items", 0, "product_id"): ROW,
    ("items", 0, "monthly_price_id"): "a monthly price of the item's product, on every item when sold monthly",
    ("items", 0, "annual_price_id"): "an annual price of the item's product, on every item when sold annually",
    ("items", 0, "quantity"): "the item's amount within a charge's cap",
    ("allow_monthly",): "a package is sold in a billing cycle at least, each item priced for it",
    ("allow_annual",): "each item priced for the cycles allowed",
    ("default_billing_cycle",): "a cycle the package is sold in",
}
PAID_PRICING = (
    "what its pricing type calls for: a billing frequency (its months when Custom), the event of a usage price, one "
    "price point in an ISO 4217 currency, tiers (from 0, ascending) for graduated and volume pricing only"
)
DELIVERABLE = "a deliverable domain (not .test, .invalid...)"
ISO_DATE = "an ISO 8601 date or date-time"


def paid_pricing(*at: str | int) -> dict[tuple[str | int, ...], str]:
    """The fields of a Paid pricing input found at ``at`` that its pricing type's rules may refuse; and the pricing
    as a whole, which must be the one a plan already has where it is sent back (a price's terms never change)."""
    point = ("pricePoints", 0)
    fields = [
        ("billingFrequency",),
        ("billingFrequencyCustomMonths",),
        ("billingType",),
        ("eventName",),
        ("pricePoints",),
        (*point, "currency"),
        (*point, "unitPrice"),
        (*point, "tiers"),
        *((*point, "tiers", 0, name) for name in ("lowerBound", "upperBound", "unitAmount", "flatAmount")),
    ]
    return {**{(*at, *field): PAID_PRICING for field in fields}, at: "the pricing the plan has"}


PAID_PLAN_UPDATE = {
    ("attributes", 0, "productAttributeId"): "the plan's product's id",
    ("supportedCurrencies",): "the plan's currency alone",
    ("isDefault",): "an active plan",
    **paid_pricing("attributes", 0, "pricing"),
}
PAID_PRODUCT_UPDATE = {
    ("productAttributes", 0, "productAttributeId"): "the product's id",
    **paid_pricing("productAttributes", 0, "pricing"),
}
ONE_CUSTOMER = "customerId or externalCustomerId, not both"
ORDER_FIELDS_NOT_KEPT = (
    "startDate",
    "endDate",
    "subscriptionTerms",
    "billingAnchor",
    "paymentTerms",
    "externalId",
    "billingCustomerId",
    "billingContactIds",
    "autoPostInvoices",
    "autoSendBillingEmails",
    "autoSendPaymentEmails",
    "purchaseOrderReference",
)
# An amendment's intents name the order's lines and the catalog's plans, and are settled one way.
AMENDMENT: dict[tuple[str | int, ...], str] = {
    ("intents",): "at least one intent, all settled the same way, each a change of the order's plan",
    ("intents", 0, "type"): "updateQuantity, endAttribute or addFromCatalog",
    ("intents", 0, "orderLineAttributeId"): "an attribute of the order, named once",
    ("intents", 0, "productAttributeId"): "a plan or a product with a default plan",
    ("intents", 0, "newQuantity"): "a quantity from 1, of an attribute not metered",
    ("intents", 0, "quantity"): "a quantity from 1",
    ("intents", 0, "treatment"): "prorate or none",
    ("intents", 0, "chargeStub"): "prorated or none",
    ("intents", 0, "unitPriceMinor"): "null: the catalog prices an order's plans",
    ("defaultTreatment",): "prorate or none",
}
PAID_CUSTOMER = {("name",): "a first word and a rest of at most 100 characters each", ("email",): DELIVERABLE}
BUSINESS_RULES: dict[str, dict[tuple[str | int, ...], str]] = {
    "POST /api/v2/plans/": {
        ("productId",): ROW,
        ("attributes", 0, "productAttributeId"): "the product's id",
        ("supportedCurrencies",): "the price point's currency alone",
        **paid_pricing("attributes", 0, "pricing"),
    },
    "PUT /api/v2/plans/{plan_id}": PAID_PLAN_UPDATE,
    "PUT /api/v2/plans/external/{external_id}": PAID_PLAN_UPDATE,
    "PUT /api/v2/plans/upgrade-path": {
        ("groups", 0, "planIds", 0): "a plan of the product, named once, billed at its group's frequency",
        ("groups", 0, "frequency"): "one group per frequency",
    },
    "PUT /api/v2/products/{product_id}": PAID_PRODUCT_UPDATE,
    "PUT /api/v2/products/external/{external_id}": PAID_PRODUCT_UPDATE,
    "PUT /api/v2/pricing/{product_attribute_id}": paid_pricing("pricing"),
    "POST /api/v2/checkouts/": {
        ("products", 0, "id"): ROW,
        ("products", 0, "plans"): "named when the product has no default price",
        ("products", 0, "plans", 0, "id"): "a plan of the product, on sale",
        ("products",): "plans in a common currency, billed at one interval",
        ("customerId",): ROW,
        ("externalCustomerId",): ONE_CUSTOMER,
        ("expiresAt",): "a time after now, at most 30 days ahead",
        ("currency",): "a currency every product has a plan in",
        ("metadata",): "at most 8000 characters as JSON",
    },
    "GET /api/v2/customers/": {("createdAtFrom",): ISO_DATE, ("createdAtTo",): ISO_DATE},
    "POST /api/v2/customers/": PAID_CUSTOMER,
    "PUT /api/v2/customers/{customer_id}": PAID_CUSTOMER,
    "PUT /api/v2/customers/external/{external_id}": PAID_CUSTOMER,
    "GET /api/v2/signals/": {("createdAtFrom",): ISO_DATE, ("createdAtTo",): ISO_DATE},
    "GET /api/v2/orders/": {
        **dict.fromkeys([("startDateFrom",), ("startDateTo",), ("endDateFrom",), ("endDateTo",)], ISO_DATE),
        ("externalCustomerId",): ONE_CUSTOMER,
    },
    "PUT /api/v2/orders/{order_id}": {
        **dict.fromkeys([(name,) for name in ORDER_FIELDS_NOT_KEPT], "null: an order doesn't keep it"),
        ("creationState",): "what the order already is",
        ("metadata",): "at most 50 keys with those the order has",
    },
    "POST /api/v2/orders/{order_id}/amendments/preview": AMENDMENT,
    "POST /api/v2/orders/{order_id}/amendments": AMENDMENT,
    "GET /api/v2/payments/": {("externalCustomerId",): ONE_CUSTOMER},
    "GET /api/v2/payment-methods/": {("externalCustomerId",): ONE_CUSTOMER},
    "PATCH /api/v2/webhooks/{webhook_name}": {
        ("url",): "a URL while the webhook is enabled",
        ("enabled",): "a URL to deliver to",
    },
    "PATCH /api/accounts/{account_id}/default-processor-route": {("default_processor_route_id",): ROW},
    # A form's text "null" is no URL: schemathesis sends null as that text in multipart bodies.
    "PATCH /api/accounts/{account_id}/brand-settings": dict.fromkeys(
        [("icon",), ("logo",), ("privacy_policy_url",), ("terms_of_service_url",)], "null in a form"
    ),
    "POST /api/{account_id}/products/": {("custom_fields",): KEYS, ("default_price_id",): "a price of this product"},
    "PATCH /api/{account_id}/products/{product_id}": {("custom_fields",): KEYS, ("default_price_id",): ROW},
    "POST /api/{account_id}/prices/": {
        ("product_id",): ROW,
        ("custom_fields",): KEYS,
        ("recurring_interval_count",): "3 years of recurring_interval",
        ("trial_days",): "recurring prices only",
        ("recurring_interval",): "none on a one_time price",
        ("contract_term_multiple",): "recurring prices only",
        ("auto_renew",): "recurring prices only",
        ("unit_amount_atom",): "needed by a per-unit price, refused beside tiers",
        ("tier_amount_info",): "ascending tiers, the last unbounded, with a mode",
        ("usage_type",): "a metered price recurs",
        ("metered_id",): "a metered price's, which needs one",
        ("usage_aggregation",): "a metered price's",
        ("prerequisite_price_ids", 0): ROW,
        ("exclusive_customer_ids", 0): ROW,
    },
    "PATCH /api/{account_id}/prices/{price_id}": {("custom_fields",): KEYS},
    "POST /api/{account_id}/product-families/{family_id}/products": {("product_id",): ROW},
    "PUT /api/{account_id}/product-families/{family_id}/hierarchy": {("hierarchy", 0, "product_id"): ROW},
    "POST /api/{account_id}/customers/": {
        ("custom_fields",): KEYS,
        ("email",): "a deliverable domain (not .test, .invalid...)",
        ("language",): "a language tag Babel knows",
        ("test_clock_id",): ROW,
    },
    "PUT /api/{account_id}/customers/{customer_id}": {
        ("custom_fields",): KEYS,
        ("email",): "a deliverable domain (not .test, .invalid...)",
        ("language",): "a language tag Babel knows",
    },
    "POST /api/{account_id}/custom-field-definitions/": {("constraints",): KEYS},
    "PATCH /api/{account_id}/custom-field-definitions/{definition_id}": {("constraints",): KEYS},
    "DELETE /api/{account_id}/custom-field-definitions/{definition_id}": {("confirm_field_key",): "the path's key"},
    "POST /api/{account_id}/coupons/": dict.fromkeys(
        [
            ("amount_atom_off",),
            ("percent_off",),
            ("trial_days_off",),
            ("currency",),
            ("duration_in_months",),
            ("discount", "discount_type"),
            ("product_ids", 0),
            ("valid_until",),
            ("valid_from",),
        ],
        "what discount_type and duration call for; products the account has; valid_until after valid_from",
    ),
    "POST /api/{account_id}/promotion-codes/": {
        ("coupon_id",): ROW,
        ("expires_at",): CLOCK,
        ("restrictions", "minimum_amount"): "the currency's decimals, with its currency",
        ("restrictions", "minimum_amount_currency"): "the coupon's currency, with minimum_amount",
    },
    "PUT /api/{account_id}/promotion-codes/{promo_code_id}": {("expires_at",): CLOCK},
    "POST /api/{account_id}/promotion-codes/validate": {
        ("customer_id",): ROW,
        ("order_amount",): "the currency's decimals",
        ("order_currency",): "given with order_amount",
    },
    "POST /api/{account_id}/promotion-codes/redeem": {
        ("customer_id",): ROW,
        ("order_amount",): "the currency's decimals",
        ("order_currency",): "given with order_amount",
    },
    "POST /api/{account_id}/processors/": dict.fromkeys(
        [("currencies",), ("is_available",), ("secret_key",), ("webhook_secret",), ("api_base",), ("publishable_key",)],
        BY_TYPE,
    ),
    "PATCH /api/{account_id}/processors/{processor_id}": dict.fromkeys(
        [("currencies",), ("is_available",), ("secret_key",), ("webhook_secret",), ("api_base",), ("publishable_key",)],
        BY_TYPE,
    ),
    "POST /api/{account_id}/processor-routes/": {("processors", 0, "processor_id"): ROW},
    "PATCH /api/{account_id}/processor-routes/{route_id}": {("processors", 0, "processor_id"): ROW},
    "POST /api/{account_id}/checkout-sessions/": {
        ("customer_id",): ROW,
        ("coupon_id",): ROW,
        ("processor_route_id",): ROW,
        ("promotion_code",): ROW,
        ("line_items",): "line items or cascade tiers, one of them",
        ("line_items", 0): "a price_id or a package_id, one of them",
        ("line_items", 0, "price_id"): ROW,
        ("line_items", 0, "package_id"): ROW,
        ("line_items", 0, "billing_cycle"): "a cycle the package is sold in",
        ("cascade_line_items", 0, "line_items", 0): "a price_id or a package_id, one of them",
        ("cascade_line_items", 0, "line_items", 0, "price_id"): ROW,
        ("cascade_line_items", 0, "line_items", 0, "package_id"): ROW,
        ("cascade_line_items", 0, "line_items", 0, "billing_cycle"): "a cycle the package is sold in",
        ("cascade_line_items", 0, "processor_route_id"): ROW,
        ("custom_fields",): KEYS,
    },
    "PATCH /api/{account_id}/checkout-sessions/{checkout_id}": {("processor_route_id",): ROW},
    "POST /api/{account_id}/payment-links/": {
        ("customer_id",): ROW,
        ("coupon_id",): ROW,
        ("promotion_code",): ROW,
        ("mode",): "what the line items sell: a recurring price for subscription, none for payment",
        ("line_items",): "prices in one currency, recurring ones at one interval",
        ("line_items", 0, "price_id"): ROW,
        ("line_items", 0, "quantity"): "a line amount within the currency's cap",
    },
    "PATCH /api/{account_id}/payment-links/{link_id}": {
        ("metadata",): "at most 50 keys with those the link has",
        ("line_items",): "prices still on sale, to be reactivated",
        ("line_items", 0, "price_id"): "a price still on sale, to be reactivated",
    },
    "POST /api/{account_id}/checkout-sessions/{checkout_id}/line-items": {("price_id",): ROW},
    "POST /api/public/checkout/{secure_token}/confirm": {("payment_method",): "a card or a saved method, one of them"},
    "POST /api/public/checkout/{secure_token}/plan": {("plan",): "a line and rank the session offers"},
    "POST /api/public/checkout/{secure_token}/promotion-code": {
        ("promotion_code",): "a promotion code of the account that applies to the session"
    },
    "POST /api/public/checkout/{secure_token}/selection": {
        ("plans", 0): "a line and plan the checkout offers",
        ("plans",): "plans billed at one interval",
        ("currency",): "a currency the checkout offers",
    },
    "POST /api/{account_id}/meter-events/": {
        ("customer_id",): ROW,
        ("metered_id",): "a meter one of the account's metered prices bills",
        ("timestamp",): "at most 5 minutes ahead, in a period not yet invoiced",
    },
    "POST /api/{account_id}/packages/": PACKAGE_RULES,
    "PATCH /api/{account_id}/packages/{package_id}": PACKAGE_RULES,
    "POST /api/{account_id}/packages/{package_id}/calculate": {("billing_cycle",): "a cycle the package is sold in"},
    "POST /api/{account_id}/upgrade-paths/": dict.fromkeys(
        [("source_product_id",), ("source_price_id",), ("target_product_id",), ("target_price_id",)],
        "a product or a price of the account on each side",
    ),
    "POST /api/{account_id}/upgrade-paths/validate": dict.fromkeys(
        [("source_product_id",), ("source_price_id",), ("target_product_id",), ("target_price_id",)],
        "a product or a price of the account on each side",
    ),
    "POST /api/{account_id}/payments/payment_methods/credit_card": {
        ("customer_id",): ROW,
        ("card_number",): "a card number's check digit (Luhn)",
        ("expiry_year",): CLOCK,
    },
    "PATCH /api/{account_id}/subscriptions/{subscription_id}": {
        ("default_payment_method_id",): "a payment method of the subscription's customer",
        ("trial_end",): "a trialing subscription, and a time after now",
        ("trial_period_days",): "a trialing subscription",
        ("custom_fields",): KEYS,
    },
    "PATCH /api/{account_id}/subscriptions/{subscription_id}/items": {
        ("items", 0, "id"): ROW,
        ("items", 0, "price_id"): ROW,
        ("items",): "an item changed once, and a subscription left with one",
        ("proration_date",): "with a prorating proration_behavior only, within the current period",
        ("effective",): "a change at the period's end is not prorated",
    },
    "POST /api/{account_id}/invoices/": {
        ("customer_id",): ROW,
        ("currency",): "the customer's currency",
        ("custom_fields",): KEYS,
        ("due_date",): "after issued_at",
        ("items",): "one item at least, or a price",
        ("items", 0, "price_external_id"): ROW,
        ("items", 0, "name"): "a name or a price, one of them",
        ("items", 0, "unit_amount"): "unit_amount, amount or a price",
        ("items", 0, "amount"): "unit_amount times quantity",
    },
    "POST /api/{account_id}/webhook-endpoints/": {("events",): "'*' alone or event types"},
    "PATCH /api/{account_id}/webhook-endpoints/{endpoint_id}": {("events",): "'*' alone or event types"},
}


def reference() -> dict[str, Any]:
    """The API reference as the app builds it, read at collection so that each operation is a test of its own (the
    served one is fuzzed, and must have the same operations)."""
    with tempfile.TemporaryDirectory() as data_dir:
        document: dict[str, Any] = create_app(Settings(data_dir=Path(data_dir), secret_key="k" * 40)).openapi()
    return document


REFERENCE = reference()


def labels(document: dict[str, Any]) -> list[str]:
    paths = document["paths"].items()
    return [f"{method.upper()} {path}" for path, methods in paths for method in methods if method in HTTP_METHODS]


OPERATIONS = labels(REFERENCE)


@dataclass(frozen=True)
class Target:
    """A server with an account and one object of each kind its paths address, and the schema to fuzz it by."""

    server: Server
    secret: str
    ids: dict[str, str]
    schemas: dict[str, OpenApiSchema]  # by kind of input


def fuzzing_schema(document: dict[str, Any], kind: str) -> OpenApiSchema:
    schema = schemathesis.openapi.from_dict(document)
    # NUL is refused in any text (PostgreSQL can't hold it; the 422's description says so), which the reference
    # doesn't repeat on every string: valid input leaves it out, invalid input keeps it.
    schema.config.generation.update(allow_x00=kind == "invalid")
    return schema


def seeded_ids(base_url: str, account_id: str, secret: str) -> dict[str, str]:
    """One object of each kind the API addresses by id, by path parameter name, made through the API itself."""
    api = httpx.Client(base_url=f"{base_url}/api/{account_id}", headers=bearer(secret), timeout=30)

    def made(path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = api.post(path, json=body)
        assert response.status_code in (200, 201), (path, response.text)
        created: dict[str, Any] = response.json()
        return created

    product = made("/products/", {"name": "Fuzzed plan"})
    price = made(
        "/prices/",
        {"product_id": product["id"], "currency": "usd", "unit_amount_atom": 900, "recurring_interval": "month"},
    )
    customer = made("/customers/", {"email": "fuzz@example.com", "external_id": "fuzz-1"})
    coupon = made("/coupons/", {"discount_type": "percent_off", "percent_off": 10})
    note = made(f"/coupons/{coupon['id']}/notes", {"content": "fuzzed"})
    code = made("/promotion-codes/", {"coupon_id": coupon["id"], "code": "FUZZ10"})
    endpoint = made("/webhook-endpoints/", {"url": "http://127.0.0.1:9/hooks", "events": ["*"]})
    processor = made("/processors/", {"name": "Simulator", "type": "simulator"})
    route = made("/processor-routes/", {"name": "Main", "processors": [{"processor_id": processor["id"]}]})
    family = made("/product-families/", {"name": "Fuzzed family"})
    made(
        "/prices/",
        {
            "product_id": product["id"],
            "currency": "usd",
            "unit_amount_atom": 2,
            "recurring_interval": "month",
            "usage_type": "metered",
            "metered_id": "fuzz_calls",
        },
    )
    package = made(
        "/packages/",
        {"name": "Fuzzed package", "items": [{"product_id": product["id"], "monthly_price_id": price["id"]}]},
    )
    definition = made(
        "/custom-field-definitions/",
        {"field_key": "fuzzed", "entity_type": "customer", "data_type": "text", "display_name": "Fuzzed"},
    )
    session_body = {
        "success_url": "https://shop.test/ok",
        "return_url": "https://shop.test/back",
        "line_items": [{"price_id": price["id"]}],
    }
    checkout = made("/checkout-sessions/", session_body)
    link = made("/payment-links/", {"success_url": "https://shop.test/ok", "line_items": [{"price_id": price["id"]}]})
    paid = httpx.post(
        f"{base_url}/api/public/checkout/{checkout['secure_token']}/confirm",
        json={
            "payment_method": {"card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2099, "cvc": "123"}},
            "customer": {"name": "Fuzz", "email": "fuzz@example.com"},
        },
        timeout=30,
    )
    assert paid.status_code == 200, paid.text
    open_checkout = made("/checkout-sessions/", session_body)
    meter_event = made("/meter-events/", {"metered_id": "fuzz_calls", "customer_id": customer["id"], "value": 3})
    # A Paid product and plan under the customer's external id too, so that every external-id path finds its object.
    paid_product, plan = paid_catalog(base_url, secret, customer["external_id"])
    key = httpx.post(f"{base_url}/api/accounts/{account_id}/api-keys", headers=bearer(secret), json={}, timeout=30)
    event = api.get("/events/", params={"limit": 1}).json()["items"][0]
    subscription = api.get("/subscriptions/", params={"limit": 1}).json()["items"][0]
    payment = api.get("/payments/intents/", params={"limit": 1}).json()["items"][0]
    return {
        "account_id": account_id,
        "product_id": product["id"],
        "price_id": price["id"],
        "customer_id": customer["id"],
        "external_id": customer["external_id"],
        "customer_external_id": customer["external_id"],
        "coupon_id": coupon["id"],
        "note_id": note["id"],
        "promo_code_id": code["id"],
        "endpoint_id": endpoint["id"],
        "processor_id": processor["id"],
        "route_id": route["id"],
        "family_id": family["id"],
        "package_id": package["id"],
        "definition_id": definition["id"],
        "checkout_id": open_checkout["id"],
        "link_id": link["id"],
        "secure_token": open_checkout["secure_token"],
        "checkout_attempt_id": paid.json()["id"],
        "attempt_id": paid.json()["id"],
        "subscription_id": subscription["id"],
        "order_id": "ord_" + subscription["id"].removeprefix("sub_"),
        "payment_id": payment["id"],
        "payment_method_id": subscription["payment_method"]["id"],
        "event_id": event["id"],
        "meter_event_id": meter_event["id"],
        "signal_id": meter_event["id"],
        "webhook_name": "billing-checkout-completed",
        "key_id": key.json()["id"] if key.status_code == 201 else "key_none",
        "plan_id": plan["id"],
        "product_attribute_id": paid_product["id"],
    }


def paid_catalog(base_url: str, secret: str, external_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A product with its base pricing and a plan, through the Paid dialect, both with ``external_id``."""
    api = httpx.Client(base_url=f"{base_url}/api/v2", headers=bearer(secret), timeout=30)
    pricing = {
        "pricingType": "RecurringPerUnit",
        "billingFrequency": "Monthly",
        "pricePoints": [{"currency": "USD", "unitPrice": 900}],
    }
    product = api.post("/products/", json={"name": "Fuzzed Paid product", "externalId": external_id}).json()
    priced = api.put(f"/products/{product['id']}", json={"productAttributes": [{"name": "Base", "pricing": pricing}]})
    assert priced.status_code == 200, priced.text
    attributes = [{"productAttributeId": product["id"], "pricing": pricing}]
    plan = api.post("/plans/", json={"productId": product["id"], "externalId": external_id, "attributes": attributes})
    assert plan.status_code == 201, plan.text
    return product, plan.json()


@pytest.fixture(scope="module")
def target(server: Server) -> Target:
    account_id, secret = server.new_account()
    ids = seeded_ids(server.base_url, account_id, secret)
    served = httpx.get(f"{server.base_url}/openapi.json", timeout=OPENAPI_TIMEOUT_SECONDS).json()
    return Target(server, secret, ids, {kind: fuzzing_schema(served, kind) for kind in MODES})


def takes_only_text(path: str, method: str) -> bool:
    """Whether all an operation takes is text (its path's ids, a signature header): nothing sent is invalid to the
    schema then, so schemathesis has no invalid case for it."""
    operation = REFERENCE["paths"][path][method]
    parameters = operation.get("parameters", [])
    return "requestBody" not in operation and all(p["in"] in ("path", "header") for p in parameters)


def pinned_ids(kind: str, path: str, method: str, ids: dict[str, str]) -> dict[str, str]:
    """The path's ids the run fixes to real objects, so that generated input reaches the handler. Where all an
    operation takes is text, its invalid run sends unknown ids instead (any text: other scripts' digits,
    confusables...), past the account's tenancy check where the path names more than the account."""
    names = re.findall(r"{(\w+)}", path)
    if kind != "invalid" or not takes_only_text(path, method):
        return {name: ids[name] for name in names if name in ids}
    return {"account_id": ids["account_id"]} if "account_id" in names and len(names) > 1 else {}


def hostile_spots(case: Case) -> list[tuple[Any, Any, st.SearchStrategy[Any]]]:
    """Where one hostile value can go in a case, with what may go there: a query parameter (text, or any JSON inside
    a JSON one), a JSON body's value at any depth, an id in the path past the account's."""
    spots: list[tuple[Any, Any, st.SearchStrategy[Any]]] = []

    def inside(value: Any) -> None:
        items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        for key, item in items:
            spots.append((value, key, hostile_json))
            inside(item)

    for name, value in (case.query or {}).items():
        spots.append((case.query, name, hostile_text))
        inside(value)
    spots += [(case.path_parameters, name, path_text) for name in case.path_parameters or {} if name != "account_id"]
    if case.media_type == "application/json":
        inside(case.body)
    return spots


def refused_as_invalid(label: str, response: Any) -> list[Any]:
    """The parts of the request a refusal says are invalid (PaymentKit's 422 ``detail``, Paid's 400 ``fields``),
    less the body fields a business rule refused."""
    if label.split(" ", 1)[1].startswith(PAID_PREFIX):
        fields = response.json().get("fields") if response.status_code == 400 else None
        return [
            problem
            for problem in fields or []
            if problem["field"] != "body" and paid_field(problem["field"]) not in BUSINESS_RULES.get(label, {})
        ]
    detail = response.json().get("detail") if response.status_code == 422 else None
    return [
        problem
        for problem in detail or []
        if problem["loc"][0] in REQUEST_LOCATIONS
        and problem["loc"] != ["body"]
        and business_rule_field(problem["loc"]) not in BUSINESS_RULES.get(label, {})
    ]


def paid_field(spelt: str) -> tuple[str | int, ...]:
    """A field as Paid's 400 names it (``attributes[2].pricing.currency``), as :data:`BUSINESS_RULES` names it:
    list indexes as 0, whichever item it was."""
    return tuple(0 if part.isdigit() else part for part in re.findall(r"[^.\[\]]+", spelt))


def business_rule_field(loc: list[str | int]) -> tuple[str | int, ...]:
    """A body field's place as :data:`BUSINESS_RULES` names it: list indexes as 0, whichever item it was."""
    place = tuple(0 if isinstance(part, int) else part for part in loc[1:])
    return place[:1] if place[:1] in (("custom_fields",), ("constraints",), ("tier_amount_info",)) else place


@pytest.mark.parametrize("kind", MODES)
@pytest.mark.parametrize("label", OPERATIONS)
def test_any_input_gets_a_documented_answer_and_never_a_server_error(target: Target, label: str, kind: str) -> None:
    method, path = label.split(" ", 1)
    method = method.lower()
    # Unknown ids are generated as valid text: schemathesis has no invalid text.
    mode = GenerationMode.POSITIVE if takes_only_text(path, method) else MODES[kind]
    operation = target.schemas[kind][path][method]
    fixed = pinned_ids(kind, path, method, target.ids)
    problems: list[str] = []

    @given(case=operation.as_strategy(generation_mode=mode, path_parameters=fixed), data=st.data())
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def send(case: Case, data: st.DataObject) -> None:
        if kind == "hostile" and (spots := hostile_spots(case)):
            container, key, values = data.draw(st.sampled_from(spots))
            container[key] = data.draw(values)
        response = case.call(base_url=target.server.base_url, headers=bearer(target.secret))
        try:
            case.validate_response(response, checks=CHECKS)
        except AssertionError as failure:  # schemathesis' failures are AssertionErrors
            problems.append(f"{case.as_curl_command()[:500]} -> {response.status_code}: {str(failure)[:400]}")
        if kind == "valid" and (refused := refused_as_invalid(label, response)):
            problems.append(f"valid input refused: {case.as_curl_command()} -> {refused}")

    send()
    assert not problems, "\n".join(problems)


def test_every_operation_served_is_fuzzed(server: Server) -> None:
    assert labels(httpx.get(f"{server.base_url}/openapi.json").json()) == OPERATIONS
    assert len(OPERATIONS) > 100


def test_a_method_no_path_has_is_a_405_naming_those_it_has(server: Server) -> None:
    """``Allow`` names at least the path's documented methods (more where the path also fits another template:
    ``promotion-codes/validate`` is a promotion code's id to ``PUT``)."""
    _, secret = server.new_account()
    document = httpx.get(f"{server.base_url}/openapi.json").json()
    wrong = []
    for path, operations in document["paths"].items():
        documented = {method.upper() for method in operations if method in HTTP_METHODS}
        concrete = path.replace("{", "").replace("}", "")
        response = httpx.request("TRACE", f"{server.base_url}{concrete}", headers=bearer(secret))
        named = {method.strip() for method in response.headers.get("allow", "").split(",")}
        if response.status_code != 405 or not documented <= named:
            wrong.append(f"TRACE {path} -> {response.status_code}, Allow: {response.headers.get('allow')}")
    assert wrong == []
