"""Wire types every PaymentKit resource shares."""

from __future__ import annotations

import json
from collections.abc import Collection
from decimal import Decimal
from typing import Annotated, Any, Final, Generic, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    ValidationError,
    WithJsonSchema,
    model_validator,
)
from pydantic.config import JsonDict
from starlette.datastructures import UploadFile

from checkstand.core import metadata, money, urls
from checkstand.core.nul import contains_nul
from checkstand.core.pagination import Page

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


def _integral_float(value: Any) -> Any:
    """A float with no fraction as the integer it is: JSON Schema counts ``786.0`` an integer, so the server does
    too. Anything else goes on to the strict check, which refuses ``"786"``, ``true`` and ``786.5``."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# An integer as JSON Schema has it: a whole JSON number however it is spelt, never a string or a boolean. Bounds go
# on the field (``Field(ge=..., le=...)``), where the reference shows them as minimum and maximum.
WholeNumber = Annotated[int, Strict(), BeforeValidator(_integral_float)]


def _not_null(value: T | None) -> T:
    if value is None:
        raise ValueError("can't be null")
    return value


def _without_null(schema: JsonDict) -> None:
    """The field's schema less its ``null`` choice: the reference says what the server takes."""
    choices = [choice for choice in schema.pop("anyOf", []) if choice != {"type": "null"}]  # type: ignore[union-attr]
    if schema.get("default", ...) is None:
        del schema["default"]
    if len(choices) == 1 and isinstance(choices[0], dict):
        schema.update(choices[0])
    elif choices:
        schema["anyOf"] = choices


# An update's field that may be left out (the value stays) but not sent as null (the object can't be without one).
Omittable = Annotated[T | None, AfterValidator(_not_null), Field(json_schema_extra=_without_null)]


def decimal_schema(number: JsonDict, text_pattern: str, description: str) -> WithJsonSchema:
    """A :class:`~decimal.Decimal` field's reference: a JSON number within ``number``'s bounds, or a string matching
    ``text_pattern`` (which holds the same bounds, as a pattern can), rather than any string at all."""
    return WithJsonSchema(
        {
            "anyOf": [{"type": "number", **number}, {"type": "string", "pattern": text_pattern}],
            "description": description,
        }
    )


# At most 12 digits before the point and as many after it as the currency with the most decimals has: an amount in
# the major unit, up to 10**12, as a string. Whether it has more decimals than its own currency is the service's call.
MAJOR_DECIMALS: Final = max(money.exponent(code) for code in money.currency_codes())
MAJOR_AMOUNT_TEXT: Final = (
    rf"^(?:1000000000000(?:\.0{{1,{MAJOR_DECIMALS}}})?|(?:0|[1-9][0-9]{{0,11}})(?:\.[0-9]{{1,{MAJOR_DECIMALS}}})?)$"
)
MAJOR_AMOUNT_STEP: Final = float(Decimal(1).scaleb(-MAJOR_DECIMALS))

# A field the SDK sends that Checkstand doesn't act on yet: null or left out, as the reference says; any value is a 422.
NOT_SUPPORTED_YET = WithJsonSchema({"type": "null", "description": "Not supported yet: only null is taken."})

# ISO 4217 codes of legal tender, as :func:`checkstand.core.money.is_currency` checks them (any case).
CURRENCY_SCHEMA = WithJsonSchema(
    {
        "type": "string",
        "enum": sorted(code.lower() for code in money.currency_codes()),
        "description": "An ISO 4217 code of a currency in use, lower-case (upper-case is accepted too).",
    }
)

# What :func:`checkstand.core.urls.parse_web_url` takes, as far as a pattern can say it (an IPv6 or
# internationalised host is also taken, but left out here).
WEB_URL_SCHEMA: JsonDict = {
    "format": "uri",
    "pattern": urls.WEB_URL_PATTERN,
    "description": "An absolute http or https URL, without credentials, spaces, control characters or any of "
    "; , ' \" < > \\ ^ ` | (percent-encode them: ; is %3B, , is %2C). A host is a DNS name or an IPv4 "
    "address; a name ending in a number is refused.",
}

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


async def json_or_form_body(request: Request, model: type[M], *, files: Collection[str] = ()) -> M:
    """Parse a body sent as JSON or as a form: the SDK sends some updates as multipart (they may carry files). A file
    part is refused unless ``files`` names it (the caller reads those from the form itself)."""
    content_type = request.headers.get("content-type", "")
    try:
        if content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
            form = await request.form()
            raw: Any = {key: value for key, value in form.items() if not isinstance(value, UploadFile)}
            uploads = [key for key, value in form.items() if isinstance(value, UploadFile) and key not in files]
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
