"""Query-string dependencies every list endpoint shares: ``limit``/``offset``, and the SDK's filter, sort and search."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query

from checkstand.core.errors import InvalidFields
from checkstand.core.listing import ListParams, parse_filter
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
        raise InvalidFields.one(("query", "sortOrder"), "must be 1 (ascending) or -1 (descending)")
    return ListParams(
        page=PageParams(limit=limit, offset=offset),
        filters=parse_filter(filter),
        sort_by=sort_by,
        descending=sort_order != 1,
        search=search.strip() or None if search else None,
    )


ListQuery = Annotated[ListParams, Depends(list_params)]
