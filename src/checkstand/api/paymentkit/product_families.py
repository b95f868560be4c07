"""``product-families/``."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/{account_id}/product-families", tags=["product-families"])
