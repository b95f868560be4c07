"""Every Paid resource router, mounted at ``/api/v2`` ahead of the PaymentKit dialect (whose
``/api/{account_id}/...`` would otherwise take ``v2`` for an account id)."""

from fastapi import APIRouter

ROUTERS: list[APIRouter] = []
