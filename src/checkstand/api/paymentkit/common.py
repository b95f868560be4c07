"""Wire types every PaymentKit resource shares."""

from __future__ import annotations

import json
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator
from starlette.datastructures import UploadFile

from checkstand.core import metadata
from checkstand.core.nul import contains_nul
from checkstand.core.pagination import Page

M = TypeVar("M", bound=BaseModel)

Metadata = Annotated[
    dict[
        Annotated[str, StringConstraints(min_length=1, max_length=metadata.MAX_KEY_LENGTH)],
        Annotated[str, Field(max_length=metadata.MAX_VALUE_LENGTH)],
    ],
    Field(max_length=metadata.MAX_KEYS),
]


class WireModel(BaseModel):
    """Requests refuse unknown fields, so a misspelt parameter is a 422 rather than silently ignored, and NUL
    characters anywhere (see :mod:`checkstand.api.http.nul_guard`)."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _refuse_nul(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key, value in data.items():
                if contains_nul(key) or contains_nul(value):
                    raise ValueError(f"{key!r} must not contain NUL characters")
        return data


class ResponseModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


ItemT = TypeVar("ItemT")


class PageOut(ResponseModel, Generic[ItemT]):
    """The PaymentKit list envelope: ``{"items", "total", "has_more"}``."""

    items: list[ItemT]
    total: int
    has_more: bool

    @classmethod
    def of(cls, page: Page[Any], items: list[ItemT]) -> PageOut[ItemT]:
        return cls(items=items, total=page.total, has_more=page.has_more)


async def json_or_form_body(request: Request, model: type[M]) -> M:
    """Parse a body sent as JSON or as a form: the SDK sends some updates as multipart (they may carry files)."""
    content_type = request.headers.get("content-type", "")
    try:
        if content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
            form = await request.form()
            raw: Any = {key: value for key, value in form.items() if not isinstance(value, UploadFile)}
            uploads = [key for key, value in form.items() if isinstance(value, UploadFile)]
            if uploads:
                raise RequestValidationError(
                    [
                        {
                            "loc": ("body", key),
                            "msg": "file uploads are not accepted; give a URL",
                            "type": "value_error",
                        }
                        for key in uploads
                    ]
                )
        else:
            raw = json.loads(await request.body() or b"{}")
        return model.model_validate(raw)
    except ValueError as error:
        if isinstance(error, ValidationError):
            raise RequestValidationError(
                [{"loc": ("body", *e["loc"]), "msg": e["msg"], "type": e["type"]} for e in error.errors()]
            ) from error
        raise RequestValidationError(
            [{"loc": ("body",), "msg": "body is not valid JSON", "type": "json_invalid"}]
        ) from error
