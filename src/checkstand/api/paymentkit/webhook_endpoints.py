"""``webhook-endpoints/``."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/{account_id}/webhook-endpoints", tags=["webhook-endpoints"])
