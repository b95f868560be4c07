"""``coupons/``."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/{account_id}/coupons", tags=["coupons"])
