"""The Paid dialect's errors: ``{error, code, details}`` (the SDK's ``ErrorResponse``). A refused field is a 400
(Paid's ``BadRequestError``; it has no 422) whose ``details`` names each field as the wire spells it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from pydantic.alias_generators import to_camel

from checkstand.core.errors import CheckstandError

PREFIX: Final = "/api/v2"
VALIDATION_CODE: Final = "validation_error"


def is_paid_path(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


def paid_error_body(error: CheckstandError, request_id: str) -> dict[str, Any]:
    return {"error": error.title, "code": error.code, "details": error.detail, "requestId": request_id}


def wire_field(loc: Sequence[str | int]) -> str:
    """``("body", "products", 0, "id")`` as ``products[0].id``; the location's first part (body, query, path)
    is left out unless it is all there is."""
    parts = list(loc[1:]) if len(loc) > 1 and loc[0] in ("body", "query", "path") else list(loc)
    spelt = ""
    for part in parts:
        spelt += f"[{part}]" if isinstance(part, int) else ("." if spelt else "") + to_camel(part)
    return spelt or "body"


def paid_validation_body(problems: Sequence[tuple[Sequence[str | int], str]], request_id: str) -> dict[str, Any]:
    """Every refused field at once, ``field: message`` each, in ``details``; ``fields`` keeps them apart."""
    fields = [{"field": wire_field(loc), "message": message} for loc, message in problems]
    return {
        "error": "The request is invalid.",
        "code": VALIDATION_CODE,
        "details": "; ".join(f"{entry['field']}: {entry['message']}" for entry in fields),
        "fields": fields,
        "requestId": request_id,
    }
