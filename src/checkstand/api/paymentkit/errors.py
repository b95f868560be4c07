"""The PaymentKit dialect's errors: RFC 9457 problem details plus a stable ``code``, and where its wire carries a
field a service refused."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from checkstand.core.errors import CheckstandError, FieldPath

# Fields PaymentKit names otherwise than the domain does: the start of a domain path and the wire's path for it.
WIRE_NAMES: Final[Mapping[FieldPath, FieldPath]] = {
    ("cascade_tiers",): ("cascade_line_items",),
    ("subscription_custom_fields",): ("params_for_sub", "custom_fields"),
    ("percent_off_bp",): ("percent_off",),
    ("minimum_amount",): ("restrictions", "minimum_amount"),
    ("minimum_amount_currency",): ("restrictions", "minimum_amount_currency"),
    ("endpoint_id",): ("webhook_endpoint_id",),
    ("sort_by",): ("sortBy",),
    ("tiers",): ("tier_amount_info", "amount_atoms"),
    ("tiers_mode",): ("tier_amount_info", "mode"),
}
QUERY_METHODS: Final = frozenset({"GET", "HEAD"})


def wire_loc(path: FieldPath, method: str) -> FieldPath:
    """FastAPI's ``loc`` of a field a service refused: a read's input is its query string, any other request's its
    JSON body, and a field is renamed where :data:`WIRE_NAMES` says so."""
    for domain, wire in WIRE_NAMES.items():
        if path[: len(domain)] == domain:
            path = (*wire, *path[len(domain) :])
            break
    return ("query" if method in QUERY_METHODS else "body", *path)


def paymentkit_error_body(error: CheckstandError, request_id: str) -> dict[str, Any]:
    """A 422 keeps FastAPI's ``detail`` list (the SDK parses every 422 as one) with the code as the entry's type."""
    if error.status_code == 422:
        return {
            "detail": [{"loc": ["body"], "msg": error.detail, "type": error.code}],
            "title": error.title,
            "status": error.status_code,
            "code": error.code,
            "request_id": request_id,
        }
    return {
        "type": f"https://checkstand.dev/errors/{error.code}",
        "title": error.title,
        "detail": error.detail,
        "status": error.status_code,
        "code": error.code,
        "request_id": request_id,
    }
