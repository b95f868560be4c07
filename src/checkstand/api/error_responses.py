"""The API reference tells the truth about errors: each operation lists the error statuses it can answer, each with
the body it carries, so a client generated from ``/openapi.json`` (and schemathesis) expects what really comes.

FastAPI documents a 422 with its own body only; the statuses below come from the layers around a handler, which
its signature doesn't show: authentication (401, and 403 for a publishable key), tenancy (404 for another
account), the idempotency guard (409 while a first request runs, 422 for a key reused with another body), body
parsing and limits (400, 413), and the services' business errors (404, 409, 422).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from pydantic import BaseModel, Field

from checkstand.api.http.query import json_parameters_as_content

BODY_METHODS: Final = frozenset({"post", "put", "patch"})
MUTATING_METHODS: Final = BODY_METHODS | {"delete"}
PAID_PREFIX: Final = "/api/v2/"
PAYMENTKIT_PREFIX: Final = "/api/"
PUBLIC_CHECKOUT_PREFIX: Final = "/api/public/"
STRIPE_WEBHOOKS_PREFIX: Final = "/webhooks/stripe/"


class Problem(BaseModel):
    """An error (RFC 9457 problem details, plus a stable ``code`` to branch on and the request's id)."""

    type: str = Field(description="A URI naming the kind of error.")
    title: str
    detail: str = Field(description="What went wrong, for a person; never a secret.")
    status: int
    code: str = Field(description="Stable machine code, e.g. checkout_session_not_found.")
    request_id: str = Field(description="Also in the X-Request-Id header; quote it to the operator.")


class FieldError(BaseModel):
    loc: list[str | int] = Field(description='Where: ["body", "line_items", 0, "quantity"], ["query", "limit"]...')
    msg: str
    type: str = Field(description="Machine type of the problem, e.g. missing, url_not_public.")


class ValidationProblem(BaseModel):
    """FastAPI's validation error body (the SDK parses every 422 as one); a business rule's refusal adds its
    ``code``, ``title`` and ``status``."""

    detail: list[FieldError]
    request_id: str
    code: str | None = None
    title: str | None = None
    status: int | None = None


class PaidError(BaseModel):
    """The Paid dialect's error body (its SDK's ``ErrorResponse``)."""

    error: str = Field(description="What went wrong, for a person; never a secret.")
    code: str = Field(description="Stable machine code, e.g. validation_error, not_found.")
    details: str = Field(description="More on it: for a refused request, each field and why (field: message; ...).")
    requestId: str = Field(description="Also in the X-Request-Id header; quote it to the operator.")


PAID_400: Final = "The body could not be read, or a field or parameter is invalid, or a business rule refuses it."

DESCRIPTIONS: Final = {
    "400": "The body could not be read (a malformed form or multipart body).",
    "401": "No secret key, or an unknown, revoked or expired one.",
    "403": "A publishable key, which can't call the API.",
    "404": "No such object in this account (another account's objects are answered as unknown).",
    "409": "The object is in a state that refuses this change, or an earlier request with this Idempotency-Key "
    "is still running.",
    "413": "The request body is larger than the server accepts.",
    "422": "A field, parameter or header is invalid (each named in detail; text holding a NUL character always is), "
    "a business rule refuses the request, or the Idempotency-Key was used with another request.",
    "429": "Too many attempts; try again later.",
    "503": "Stripe can't be reached to settle the event; Stripe delivers it again later.",
}


def error_statuses(path: str, method: str, operation: dict[str, Any]) -> list[str]:
    """The error statuses an operation can answer, from where it sits and what it takes."""
    has_body = "requestBody" in operation
    statuses = {"404", "422"}
    if has_body:
        statuses |= {"400", "413"}
    if path.startswith(STRIPE_WEBHOOKS_PREFIX):
        return sorted(statuses | {"503"})
    if path.startswith(PUBLIC_CHECKOUT_PREFIX):
        return sorted(statuses | ({"409", "429"} if method in MUTATING_METHODS else set()))
    if path.startswith(PAID_PREFIX):
        # Paid's refusals are 400s (its SDK knows no 422); the same layers as PaymentKit's otherwise.
        return sorted((statuses - {"422"}) | {"400", "401", "403"} | ({"409"} if method in MUTATING_METHODS else set()))
    if path.startswith(PAYMENTKIT_PREFIX):
        return sorted(statuses | {"401", "403"} | ({"409"} if method in MUTATING_METHODS else set()))
    return []


def document_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """Add each operation's error answers to an OpenAPI document (in place), with their bodies as components."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for model in (Problem, FieldError, ValidationProblem, PaidError):
        definition = model.model_json_schema(ref_template="#/components/schemas/{model}")
        definition.pop("$defs", None)
        components[model.__name__] = definition
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            paid = path.startswith(PAID_PREFIX)
            for status in error_statuses(path, method, operation):
                body = PaidError if paid else ValidationProblem if status == "422" else Problem
                responses[status] = {
                    "description": PAID_400 if paid and status == "400" else DESCRIPTIONS[status],
                    "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{body.__name__}"}}},
                }
    return schema


def with_error_responses(openapi: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
    """Wrap an app's ``openapi`` so the document it builds (once, then cached by FastAPI) documents errors, and
    says the query parameters holding JSON as OpenAPI does (the other thing FastAPI can't say from a signature)."""
    documented: list[dict[str, Any]] = []

    def openapi_with_errors() -> dict[str, Any]:
        if not documented:
            documented.append(document_errors(json_parameters_as_content(openapi())))
        return documented[0]

    return openapi_with_errors
