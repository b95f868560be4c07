"""A list page's number as the query string gives it, and the last page's, for the lists' pagers."""

from __future__ import annotations

from typing import Final

from checkstand.core.pagination import PageParams

PAGE_SIZE: Final = 25


def page_number(text: str | None) -> int:
    """Anything but a plain small number is the first page: a pager link never errs."""
    if text is None or not text.isascii() or not text.isdigit() or len(text) > 6:
        return 1
    return max(1, int(text))


def page_params(number: int) -> PageParams:
    return PageParams(limit=PAGE_SIZE, offset=(number - 1) * PAGE_SIZE)


def last_page(total: int) -> int:
    return max(1, -(-total // PAGE_SIZE))
