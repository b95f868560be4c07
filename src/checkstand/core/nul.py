"""PostgreSQL text can't hold a NUL character: the one check every edge applies before a value reaches a query."""

from __future__ import annotations

from typing import Any

NUL = "\x00"


def contains_nul(value: Any) -> bool:
    """Whether any string in a JSON-like value (keys included) holds a NUL."""
    if isinstance(value, str):
        return NUL in value
    if isinstance(value, dict):
        return any(contains_nul(k) or contains_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(contains_nul(item) for item in value)
    return False
