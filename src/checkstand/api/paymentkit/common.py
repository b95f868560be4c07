"""Wire types every PaymentKit resource shares."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Metadata = dict[Annotated[str, StringConstraints(min_length=1, max_length=40)], Annotated[str, Field(max_length=500)]]


class WireModel(BaseModel):
    """Requests refuse unknown fields, so a misspelt parameter is a 422 rather than silently ignored."""

    model_config = ConfigDict(extra="forbid")


class ResponseModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


def page_body(items: list[Any], total: int, has_more: bool) -> dict[str, Any]:
    return {"items": items, "total": total, "has_more": has_more}
