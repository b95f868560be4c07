"""The Paid dialect's error body, as the SDK's ``ErrorResponse``: ``{"error", "code", "details"}``."""

from __future__ import annotations

from typing import Any

from checkstand.core.errors import CheckstandError


def paid_error_body(error: CheckstandError, request_id: str) -> dict[str, Any]:
    return {
        "error": error.detail,
        "code": error.code,
        "details": f"request_id={request_id}",
        "request_id": request_id,
    }
