"""Schemathesis generates input for every operation of ``/openapi.json`` (and invalid input for the most exposed)
and sends it to a real server, on both backends: whatever arrives, the answer is never a 5xx, and it is what the
reference says it can be (a documented status, with the documented body). The path's ids name real objects made
first, so generated input reaches the handlers rather than stopping at a 404; a method a path doesn't have is a
405 naming those it has."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import Case
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import bearer
from tests.support import Server

EXAMPLES_PER_OPERATION = 5
# Invalid input for every operation would cost minutes (schemathesis builds each negative strategy at length);
# it is sent where strangers and merchants' free text come in. tests/hostile_input.py covers the public forms more.
NEGATIVE_OPERATIONS = frozenset(
    {
        "POST /api/public/checkout/{secure_token}/confirm",
        "POST /api/public/checkout/{secure_token}/plan",
        "POST /api/{account_id}/checkout-sessions/",
        "POST /api/{account_id}/checkout-sessions/{checkout_id}/line-items",
        "POST /api/{account_id}/prices/",
        "POST /api/{account_id}/coupons/",
        "POST /api/{account_id}/promotion-codes/",
        "POST /api/{account_id}/webhook-endpoints/",
        "PATCH /api/accounts/{account_id}/brand-settings",
        "GET /api/{account_id}/checkout-sessions/",
    }
)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
HTTP_METHODS = ("get", "put", "post", "delete", "patch")


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


def fuzz(operation: Any, mode: GenerationMode, send: Callable[[Case, GenerationMode], None]) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def run(case: Case) -> None:
        send(case, mode)

    try:
        run()
    except Unsatisfiable:
        # Nothing the operation takes can be invalid (a GET of a path's string id alone): no negative case exists.
        if mode != GenerationMode.NEGATIVE:
            raise


def test_no_input_makes_a_server_error_nor_an_undocumented_answer(server: Server) -> None:
    account_id, secret = server.new_account()
    ids = seeded_ids(server.base_url, account_id, secret)
    schema = schemathesis.openapi.from_url(f"{server.base_url}/openapi.json")
    problems: list[str] = []
    answered: dict[str, list[int]] = {}

    for result in schema.get_all_operations():
        operation = result.ok()
        label = f"{operation.method.upper()} {operation.path}"
        statuses = answered.setdefault(label, [])

        def send(case: Case, mode: GenerationMode, label: str = label, statuses: list[int] = statuses) -> None:
            # Real ids where the input is meant to be valid; the account always (past the tenancy check).
            for name in case.path_parameters or {}:
                if name in ids and (name == "account_id" or mode == GenerationMode.POSITIVE):
                    case.path_parameters[name] = ids[name]
            response = case.call(base_url=server.base_url, headers=bearer(secret))
            statuses.append(response.status_code)
            try:
                case.validate_response(response, checks=CHECKS)
            except AssertionError as failure:  # schemathesis' failures are AssertionErrors
                problems.append(f"{label} -> {response.status_code}: {str(failure)[:300]}")

        fuzz(operation, GenerationMode.POSITIVE, send)
        if label in NEGATIVE_OPERATIONS:
            fuzz(operation, GenerationMode.NEGATIVE, send)

    document = httpx.get(f"{server.base_url}/openapi.json").json()
    documented = sum(method in HTTP_METHODS for methods in document["paths"].values() for method in methods)
    assert len(answered) == documented > 50
    assert answered.keys() >= NEGATIVE_OPERATIONS
    assert all(answered.values()), [label for label, statuses in answered.items() if not statuses]
    assert sum(1 for statuses in answered.values() if any(status < 300 for status in statuses)) > len(answered) // 2
    assert problems == []


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
