"""Query-string dependencies the endpoints share: ``limit``/``offset``, the SDK's filter, sort and search, and
``expand``. Each refuses a bad value with a 422 naming its query parameter, and documents exactly what it takes
(a list's sortable fields, the JSON object its ``filter`` is), so that whatever the API reference calls valid, the
server accepts: a client generated from ``/openapi.json`` (or schemathesis) never meets an undocumented refusal."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from enum import IntEnum
from typing import Annotated, Any, Final

from fastapi import Depends, Query
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from pydantic_core import ErrorDetails

from checkstand.api.http.validation import invalid_request
from checkstand.core.json_depth import depth
from checkstand.core.listing import ListParams, ListSpec, Scalar, filter_fields
from checkstand.core.pagination import MAX_LIMIT, MAX_OFFSET, PageParams

JSON: Final = "application/json"
# PostgreSQL text can't hold a NUL (the middleware refuses %00, not the \u0000 escape inside JSON): said as a pattern,
# so the reference shows the refusal rather than hiding it.
NO_NUL: Final = r"^[^\x00]*$"
MAX_SEARCH_LENGTH: Final = 200

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="How many items at most.")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="How many items to skip.")]


# An enum, so that the reference lists the two values and pydantic refuses others (its docstring is public).
class SortOrder(IntEnum):
    """The direction of a sorted list: 1 ascending, -1 descending."""

    ASCENDING = 1
    DESCENDING = -1


# The dependencies here are async although they wait for nothing: FastAPI runs a plain function in a worker
# thread, a hop per request.
async def page_params(limit: Limit = 20, offset: Offset = 0) -> PageParams:
    return PageParams(limit=limit, offset=offset)


Pagination = Annotated[PageParams, Depends(page_params)]


def list_query(spec: ListSpec | None = None, **special_filters: Any) -> Callable[..., Awaitable[ListParams]]:
    """The dependency of a list's criteria, documented as ``spec`` takes them: ``sortBy`` one of its sortable
    fields, ``filter`` a JSON object of its filterable fields, each value of its column's type (or null). A filter
    the service matches itself rather than by a column (a checkout session's computed ``state``) is named in
    ``special_filters`` with the pydantic type it takes. Without a ``spec`` (:data:`ListQuery`) the reference
    names no field and the service alone refuses one, so a generated client meets refusals it wasn't told of.

    ``Products = Annotated[ListParams, Depends(list_query(catalog.PRODUCT_LIST))]``

    The defaults are ``Query(...)`` rather than ``Annotated`` so that what they document (built here, per list) is
    read when this runs rather than resolved from the module later."""
    criteria = _filter_model(spec, special_filters)
    sortable = sorted(spec.sortable) if spec else None
    filterable = f"; filterable: {', '.join(sorted(criteria.model_fields)) or 'nothing'}" if spec else ""

    async def list_params(
        limit: Limit = 20,
        offset: Offset = 0,
        filter: str | None = Query(
            None,
            description=f"Exact-match conditions as a JSON object, e.g. {{{_example(criteria)}}}{filterable}.",
            # Pydantic's words for "a string holding this JSON document"; FastAPI can't say it as OpenAPI does,
            # with ``content`` (which generators understand): json_parameters_as_content rewrites it so.
            json_schema_extra={"contentMediaType": JSON, "contentSchema": criteria.model_json_schema()},
        ),
        sort_by: str | None = Query(
            None,
            alias="sortBy",
            max_length=64,
            description="Field to sort by.",
            json_schema_extra=None if sortable is None else {"enum": sortable},
        ),
        sort_order: SortOrder | None = Query(None, alias="sortOrder", description="1 ascending, -1 descending."),
        search: str | None = Query(
            None,
            max_length=MAX_SEARCH_LENGTH,
            description="Case-insensitive keyword.",
            include_in_schema=spec is None or bool(spec.searchable),  # taken, and ignored, where nothing is
        ),
    ) -> ListParams:
        if sortable is not None and sort_by is not None and sort_by not in sortable:
            raise invalid_request(("query", "sortBy"), f"cannot sort by {sort_by!r}; sortable: {', '.join(sortable)}")
        return ListParams(
            page=PageParams(limit=limit, offset=offset),
            filters=_filters(filter, criteria),
            sort_by=sort_by,
            descending=sort_order != SortOrder.ASCENDING,
            search=search.strip() or None if search else None,
        )

    return list_params


def _filter_model(spec: ListSpec | None, special_filters: dict[str, Any]) -> type[BaseModel]:
    """The JSON object a list's ``filter`` is, as a model: strict (``1`` is no ``true``, nor ``"1"`` a number, as
    a column compares them) and closed where the spec is known (a field not filterable is refused, never silently
    ignored); a string no longer than its column, as a longer one could never match."""
    fields: dict[str, Any] = {}
    for name, (kind, longest) in filter_fields(spec).items() if spec else ():
        value: Any = Annotated[str, Field(max_length=longest, pattern=NO_NUL)] if kind is str else kind
        fields[name] = (value | None if value is not None else None, None)
    fields.update({name: (kind, None) for name, kind in special_filters.items()})
    if spec is None:  # any field, of a plain value
        text = Annotated[str, Field(pattern=NO_NUL)]
        fields["__pydantic_extra__"] = (dict[str, text | int | float | bool | None], None)
    config = ConfigDict(extra="forbid" if spec else "allow", strict=True, title="Filter")
    model: type[BaseModel] = create_model("Filter", __config__=config, **fields)
    return model


def _example(criteria: type[BaseModel]) -> str:
    return next((f'"{name}": ...' for name in sorted(criteria.model_fields)), "")


def _filters(raw: str | None, criteria: type[BaseModel]) -> dict[str, Scalar]:
    if not raw:
        return {}
    if depth(raw.encode()) > 1:
        # Plain values only, so one level; checked before parsing, which needn't recurse through a deep document.
        raise invalid_request(("query", "filter"), "must be a JSON object of plain values")
    try:
        parsed = criteria.model_validate_json(raw)
    except ValidationError as error:
        # At the parameter itself, the field in the message (clients match on ["query", "filter"]); one problem a
        # field, rather than one for each type a value might have had.
        first: dict[tuple[int | str, ...], ErrorDetails] = {}
        for problem in error.errors():
            first.setdefault(problem["loc"][:1], problem)
        problems = [
            {"loc": ("query", "filter"), "msg": _message(problem, criteria), "type": problem["type"]}
            for problem in first.values()
        ]
        raise RequestValidationError(problems) from None
    filters: dict[str, Scalar] = parsed.model_dump(exclude_unset=True)
    return filters


def _message(problem: ErrorDetails, criteria: type[BaseModel]) -> str:
    field = str(problem["loc"][0]) if problem["loc"] else ""
    if problem["type"] == "extra_forbidden":
        return f"cannot filter by {field!r}; filterable: {', '.join(sorted(criteria.model_fields)) or 'nothing'}"
    if not field:
        return f"must be a JSON object of plain values ({problem['msg']})"
    return f"{field!r}: {problem['msg']}"


# A list whose reference names no field (the service alone knows them): prefer ``list_query(SPEC)``.
ListQuery = Annotated[ListParams, Depends(list_query())]


def json_parameters_as_content(document: dict[str, Any]) -> dict[str, Any]:
    """Say each query parameter that holds a JSON document (``filter``) as OpenAPI does, with ``content``, so that a
    generator sends that document, encoded, rather than any string (in place; returns ``document``)."""
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []) if isinstance(operation, dict) else []:
                schema = parameter.get("schema", {})
                if schema.get("contentMediaType") == JSON and "contentSchema" in schema:
                    del parameter["schema"]
                    parameter["content"] = {JSON: {"schema": schema["contentSchema"]}}
    return document


def expand_query(*expandable: str) -> Callable[..., Awaitable[frozenset[str]]]:
    """The dependency of an endpoint's ``expand``: the parts asked for, from repeated parameters (as the SDK sends
    a list) or comma-separated values, or both. An unknown part is a 422, so a typo never silently returns less.

    ``Expand = Annotated[frozenset[str], Depends(expand_query("custom_fields"))]``"""
    allowed = frozenset(expandable)
    listed = ", ".join(sorted(allowed))

    async def expand_param(
        expand: list[str] = Query(
            [],
            description=f"Extra parts to include: {listed}. Repeat the parameter or separate parts by commas.",
            json_schema_extra={"items": {"type": "string", "enum": sorted(allowed)}},
        ),
    ) -> frozenset[str]:
        asked = frozenset(part.strip() for value in expand for part in value.split(",") if part.strip())
        if unknown := asked - allowed:
            refused = ", ".join(map(repr, sorted(unknown)))
            raise invalid_request(("query", "expand"), f"cannot expand {refused}; expandable: {listed}")
        return asked

    return expand_param
