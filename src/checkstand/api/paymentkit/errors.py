"""The PaymentKit dialect's error body: RFC 9457 problem details plus a stable ``code``."""

from __future__ import annotations

from typing import Any

from checkstand.core.errors import CheckstandError


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
