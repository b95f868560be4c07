"""``custom-field-definitions/``."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/{account_id}/custom-field-definitions", tags=["custom-field-definitions"])
