"""``events/``."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/{account_id}/events", tags=["events"])
