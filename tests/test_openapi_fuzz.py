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
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
HTTP_METHODS = ("get", "put", "post", "delete", "patch")
# Valid input; input the schema calls invalid; valid input with one value swapped for what an attacker types.
MODES = {"valid": GenerationMode.POSITIVE, "invalid": GenerationMode.NEGATIVE, "hostile": GenerationMode.POSITIVE}
# A path id is any text but one that makes another path: httpx resolves dots, a slash or nothing is another route,
# and schemathesis leaves "#" and "?" as they are, ending the path.
path_text = hostile_text.filter(lambda text: text.strip(".") != "" and not {"/", "#", "?"} & set(text))
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
BUSINESS_RULES: dict[str, dict[tuple[str | int, ...], str]] = {
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
        ("unit_amount_atom",): "needed by a per-unit price, refused beside tiers",
        ("billing_scheme",): "tiers or a package divisor on one-time prices only",
        ("quantity_divisor",): "one-time prices only",
        ("tier_amount_info",): "ascending tiers, the last unbounded, with a mode",
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
        ("line_items", 0, "price_id"): ROW,
        ("cascade_line_items", 0, "line_items", 0, "price_id"): ROW,
        ("cascade_line_items", 0, "processor_route_id"): ROW,
        ("custom_fields",): KEYS,
    },
    "PATCH /api/{account_id}/checkout-sessions/{checkout_id}": {("processor_route_id",): ROW},
    "POST /api/{account_id}/checkout-sessions/{checkout_id}/line-items": {("price_id",): ROW},
    "POST /api/public/checkout/{secure_token}/confirm": {("payment_method",): "a card or a saved method, one of them"},
    "POST /api/public/checkout/{secure_token}/plan": {("plan",): "a line and rank the session offers"},
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
    key = httpx.post(f"{base_url}/api/accounts/{account_id}/api-keys", headers=bearer(secret), json={}, timeout=30)
    event = api.get("/events/", params={"limit": 1}).json()["items"][0]
    subscription = api.get("/subscriptions/", params={"limit": 1}).json()["items"][0]
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
        "definition_id": definition["id"],
        "checkout_id": open_checkout["id"],
        "secure_token": open_checkout["secure_token"],
        "checkout_attempt_id": paid.json()["id"],
        "attempt_id": paid.json()["id"],
        "subscription_id": subscription["id"],
        "event_id": event["id"],
        "key_id": key.json()["id"] if key.status_code == 201 else "key_none",
    }


@pytest.fixture(scope="module")
def target(server: Server) -> Target:
    account_id, secret = server.new_account()
    ids = seeded_ids(server.base_url, account_id, secret)
    served = httpx.get(f"{server.base_url}/openapi.json").json()
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
    """The parts of the request a 422 says are invalid, less the body fields a business rule refused."""
    detail = response.json().get("detail") if response.status_code == 422 else None
    return [
        problem
        for problem in detail or []
        if problem["loc"][0] in REQUEST_LOCATIONS
        and problem["loc"] != ["body"]
        and business_rule_field(problem["loc"]) not in BUSINESS_RULES.get(label, {})
    ]


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
