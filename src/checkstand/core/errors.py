"""Typed errors that services raise and routers never have to translate by hand.

A service raises one of these; the app's exception handlers render it in the dialect of the request. Each carries a
stable machine ``code`` that clients can branch on, and a human ``detail`` that is safe to show (never a secret, never
a stack trace).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


class CheckstandError(Exception):
    """Base of every business error: a 4xx with a stable code."""

    status_code: int = 400
    code: str = "bad_request"
    title: str = "Bad request"

    def __init__(self, detail: str, *, code: str | None = None, **context: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        self.context = context


class NotAuthenticated(CheckstandError):
    status_code = 401
    code = "not_authenticated"
    title = "Not authenticated"


class PermissionDenied(CheckstandError):
    status_code = 403
    code = "permission_denied"
    title = "Permission denied"


class NotFound(CheckstandError):
    status_code = 404
    code = "not_found"
    title = "Not found"

    def __init__(self, kind: str, object_id: str) -> None:
        # The id the client sent is echoed back so a log line can be matched; whether it exists elsewhere is not told.
        super().__init__(f"No {kind} with id {object_id!r}.", code=f"{kind}_not_found")


class Conflict(CheckstandError):
    status_code = 409
    code = "conflict"
    title = "Conflict"


class BusinessRuleViolation(CheckstandError):
    """The request is well-formed but the domain refuses it (an expired coupon, a closed session...)."""

    status_code = 422
    code = "business_rule_violation"
    title = "Unprocessable request"


class RateLimited(CheckstandError):
    status_code = 429
    code = "rate_limited"
    title = "Too many requests"


class ProcessorUnavailable(CheckstandError):
    """A processor that must be asked can't answer now; nothing was changed, and the request may be retried."""

    status_code = 503
    code = "processor_unavailable"
    title = "Processor unavailable"


FieldPath = tuple[str | int, ...]
"""A field of a service's input, in the domain's words: ``("cascade_tiers", 0, "line_items", 2, "price_id")``."""


@dataclass(frozen=True)
class FieldProblem:
    """One refused field: its path in the domain's words (never where a wire carries it), what is wrong, and a
    machine type."""

    path: FieldPath
    msg: str
    type: str = "value_error"


class InvalidFields(Exception):
    """Validation a schema can't express (it needs the database). Services name each field as the domain does; each
    dialect maps that path to its own location (PaymentKit renders FastAPI's 422 body), so a client parses it the
    same way as a schema error and a second dialect needs no change in a service."""

    def __init__(self, problems: Sequence[FieldProblem]) -> None:
        super().__init__("; ".join(f"{'.'.join(map(str, p.path))}: {p.msg}" for p in problems))
        self.problems = list(problems)

    @classmethod
    def one(cls, path: FieldPath, msg: str, type: str = "value_error") -> InvalidFields:
        return cls([FieldProblem(path, msg, type)])
