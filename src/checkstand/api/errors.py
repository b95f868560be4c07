"""Exception handlers: an error is rendered in the shape of the dialect the request spoke (Paid's under
``/api/v2``, PaymentKit's everywhere else)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from checkstand.api.http.idempotency import IdempotentReplay
from checkstand.api.http.request_context import request_id
from checkstand.api.paid.errors import is_paid_path, paid_error_body, paid_validation_body
from checkstand.api.paymentkit.errors import paymentkit_error_body, wire_loc
from checkstand.core.errors import CheckstandError, InvalidFields

_HTTP_CODES = {
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(CheckstandError, _business_error)  # type: ignore[arg-type]
    app.add_exception_handler(InvalidFields, _invalid_fields)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(IdempotentReplay, _replay)  # type: ignore[arg-type]


def _render(request: Request, error: CheckstandError) -> JSONResponse:
    if is_paid_path(request.url.path):
        # Paid answers a refused request with 400 (its SDK knows no 422).
        status = 400 if error.status_code == 422 else error.status_code
        return JSONResponse(paid_error_body(error, request_id(request)), status_code=status)
    return JSONResponse(paymentkit_error_body(error, request_id(request)), status_code=error.status_code)


async def _business_error(request: Request, error: CheckstandError) -> JSONResponse:
    return _render(request, error)


async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
    error = CheckstandError(str(exc.detail), code=_HTTP_CODES.get(exc.status_code, "http_error"))
    error.status_code = exc.status_code
    error.title = exc.detail if isinstance(exc.detail, str) else "Error"
    response = _render(request, error)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


def _validation_body(request: Request, problems: list[dict[str, Any]]) -> JSONResponse:
    if is_paid_path(request.url.path):
        located = [(problem["loc"], problem["msg"]) for problem in problems]
        return JSONResponse(paid_validation_body(located, request_id(request)), status_code=400)
    return JSONResponse({"detail": jsonable_encoder(problems), "request_id": request_id(request)}, status_code=422)


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    # FastAPI's shape, minus "input" and "ctx": echoing input could reflect a secret the client sent by mistake.
    problems = [{"loc": e["loc"], "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
    return _validation_body(request, problems)


async def _invalid_fields(request: Request, exc: InvalidFields) -> JSONResponse:
    problems = [{"loc": wire_loc(p.path, request.method), "msg": p.msg, "type": p.type} for p in exc.problems]
    return _validation_body(request, problems)


async def _replay(_request: Request, replay: IdempotentReplay) -> Response:
    return replay.as_response()
