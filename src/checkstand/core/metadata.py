"""Merchant metadata: string keys and values, merged on update by Stripe's rule, in one place for every object."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from checkstand.core.errors import FieldPath, InvalidFields

MAX_KEYS: Final = 50
MAX_KEY_LENGTH: Final = 40
MAX_VALUE_LENGTH: Final = 500


def merge_metadata(
    current: Mapping[str, Any], changes: Mapping[str, str | None] | None, *, path: FieldPath = ("metadata",)
) -> dict[str, Any]:
    """Given keys are set; a key set to null or "" is removed; ``None`` as a whole clears all (Stripe's rule)."""
    if changes is None:
        return {}
    merged = dict(current)
    for key, value in changes.items():
        if value:
            merged[key] = value
        else:
            merged.pop(key, None)
    if len(merged) > MAX_KEYS:
        raise InvalidFields.one(path, f"at most {MAX_KEYS} keys")
    return merged
