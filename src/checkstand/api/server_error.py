"""A 500 in the PaymentKit dialect's error shape (the only dialect served today), with the request id."""

from __future__ import annotations

from fastapi.responses import JSONResponse

from checkstand.api.paymentkit.errors import paymentkit_error_body
from checkstand.core.errors import CheckstandError


class InternalError(CheckstandError):
    status_code = 500
    code = "internal_error"
    title = "Internal server error"


def internal_error_body(request_id: str) -> JSONResponse:
    error = InternalError(
        "An unexpected error stopped Checkstand from handling this request. If it keeps happening, give the "
        "operator its request id."
    )
    return JSONResponse(paymentkit_error_body(error, request_id), status_code=500)
