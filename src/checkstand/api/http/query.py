"""Query-string dependencies the endpoints share: ``limit``/``offset``, the SDK's filter, sort and search, and
``expand``. Each refuses a bad value with a 422 naming its query parameter."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Query

from checkstand.api.http.validation import invalid_request
from checkstand.core.json_depth import depth
from checkstand.core.listing import ListParams, Scalar
from checkstand.core.pagination import MAX_LIMIT, MAX_OFFSET, PageParams


def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="How many items at most.")] = 20,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="How many items to skip.")] = 0,
) -> PageParams:
    return PageParams(limit=limit, offset=offset)


Pagination = Annotated[PageParams, Depends(page_params)]


def list_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="How many items at most.")] = 20,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="How many items to skip.")] = 0,
    filter: Annotated[
        str | None, Query(max_length=2000, description='Exact-match conditions as a JSON object, e.g. {"state":"open"}')
    ] = None,
    sort_by: Annotated[str | None, Query(alias="sortBy", max_length=64, description="Field to sort by.")] = None,
    sort_order: Annotated[int | None, Query(alias="sortOrder", description="1 ascending, -1 descending.")] = None,
    search: Annotated[str | None, Query(max_length=200, description="Case-insensitive keyword.")] = None,
) -> ListParams:
    if sort_order not in (None, 1, -1):
        raise invalid_request(("query", "sortOrder"), "must be 1 (ascending) or -1 (descending)")
    return ListParams(
        page=PageParams(limit=limit, offset=offset),
        filters=_filters(filter),
        sort_by=sort_by,
        descending=sort_order != 1,
        search=search.strip() or None if search else None,
    )


ListQuery = Annotated[ListParams, Depends(list_params)]


def _filters(raw: str | None) -> dict[str, Scalar]:
    if not raw:
        return {}
    if depth(raw.encode()) > 1:
        # Plain values only, so one level; checked before parsing, as a deep document is a RecursionError there.
        raise invalid_request(("query", "filter"), "must be a JSON object of plain values")
    try:
        parsed = json.loads(raw)
    except ValueError:
        raise invalid_request(("query", "filter"), "must be a JSON object") from None
    if not isinstance(parsed, dict) or not all(isinstance(v, str | int | float | bool | None) for v in parsed.values()):
        raise invalid_request(("query", "filter"), "must be a JSON object of plain values")
    return parsed


def expand_query(*expandable: str) -> Callable[..., frozenset[str]]:
    """The dependency of an endpoint's ``expand``: the parts asked for, from repeated parameters (as the SDK sends
    a list) or comma-separated values, or both. An unknown part is a 422, so a typo never silently returns less.

    ``Expand = Annotated[frozenset[str], Depends(expand_query("custom_fields"))]``"""
    allowed = frozenset(expandable)
    listed = ", ".join(sorted(allowed))

    def expand_param(
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
