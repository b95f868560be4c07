"""The edge's own 422, for what HTTP code refuses itself: a query parameter, a header, a form field.

A service names a refused field in the domain's words (:class:`~checkstand.core.errors.InvalidFields`) and the
dialect says where its wire carries it; code at the edge already knows where the value came from, so it raises
FastAPI's validation error at that location, rendered exactly as a schema error is.
"""

from __future__ import annotations

from fastapi.exceptions import RequestValidationError


def invalid_request(loc: tuple[str | int, ...], msg: str, type: str = "value_error") -> RequestValidationError:
    """``loc`` starts with where the value was sent: ``("query", "expand")``, ``("header", "Idempotency-Key")``."""
    return RequestValidationError([{"loc": loc, "msg": msg, "type": type}])
