"""The public checkout API, keyed by a session's ``secure_token`` only: what the hosted page (or a merchant's own
front end) uses to show a session to its customer and to pay it."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/public/checkout", tags=["public checkout"])
