"""``customers/``."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/{account_id}/customers", tags=["customers"])
