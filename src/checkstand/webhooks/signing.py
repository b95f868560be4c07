"""The headers that sign a delivery, one scheme per dialect of endpoint.

PaymentKit's endpoints get Standard Webhooks headers: ``webhook-signature`` holds one ``v1,`` entry per secret that
signs now (two during the overlap after a roll). Paid's get ``x-webhook-signature: t=<unix ms>,s=<signature>``,
where the signature is the base64 of the HMAC-SHA256 of ``"{t}.{raw body}"`` keyed with the account's Paid secret
(its UTF-8 bytes, as given to the merchant); ``x-webhook-id`` carries the event id for receivers that dedupe, as
Paid's envelope has no id of its own.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from datetime import datetime
from typing import Final

from standardwebhooks import Webhook

from checkstand import __version__
from checkstand.webhooks.models import PAID, PAYMENTKIT

USER_AGENT: Final = f"Checkstand-Webhooks/{__version__}"
PAID_SIGNATURE_HEADER: Final = "x-webhook-signature"
PAID_ID_HEADER: Final = "x-webhook-id"

SignatureHeaders = Callable[[str, bytes, list[str], datetime], dict[str, str]]
"""``(event id, body, secrets that sign now, send time)`` to the request's headers."""


def standard_webhooks_headers(event_id: str, body: bytes, signing: list[str], at: datetime) -> dict[str, str]:
    text = body.decode()
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": " ".join(Webhook(secret).sign(event_id, at, text) for secret in signing),
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }


def paid_signature(secret: str, timestamp_ms: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp_ms}.".encode() + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def paid_headers(event_id: str, body: bytes, signing: list[str], at: datetime) -> dict[str, str]:
    """Paid has one secret per organization and no overlap after a rotation: the current secret signs alone."""
    timestamp_ms = int(at.timestamp() * 1000)
    headers = {
        PAID_ID_HEADER: event_id,
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }
    if signing:
        headers[PAID_SIGNATURE_HEADER] = f"t={timestamp_ms},s={paid_signature(signing[0], timestamp_ms, body)}"
    return headers


SIGNATURE_HEADERS: Final[dict[str, SignatureHeaders]] = {PAYMENTKIT: standard_webhooks_headers, PAID: paid_headers}
