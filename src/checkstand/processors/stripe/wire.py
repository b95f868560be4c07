"""Stripe's JSON and errors as Checkstand reads them, shared by every part of the adapter: the idempotency key's
metadata, amounts in Stripe's units, what a card error or an unreachable Stripe means for a charge, and error
messages scrubbed of the secret key. No call to Stripe is made here, except :func:`find_by_key`'s scan of a list."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final, Protocol

import stripe

from checkstand.core.money import exponent
from checkstand.processors.base import ChargeResult, DeclineCode, Outcome

METADATA_KEY: Final = "checkstand_idempotency_key"
PAGE_SIZE: Final = 100  # the most Stripe's list endpoint returns at once
RECENT_SCAN: Final = 100
MAX_SCAN: Final = 1000
# Stripe's amounts use ISO 4217's minor units, except ISK: two decimals on Stripe's API, none in ISO 4217.
STRIPE_EXPONENTS: Final[Mapping[str, int]] = {"isk": 2}
# Stripe's error codes for a failed 3-D Secure challenge (Checkstand's decline code is authentication_failed).
_AUTHENTICATION_FAILURES: Final = frozenset(
    {"payment_intent_authentication_failure", "setup_intent_authentication_failure"}
)
MAX_MESSAGE_LENGTH: Final = 300
REDACTED: Final = "[redacted]"


class Page(Protocol):
    """One page of a Stripe list (``ListObject``), as :func:`find_by_key` reads it."""

    @property
    def data(self) -> list[Any]: ...

    @property
    def has_more(self) -> bool: ...


def stripe_amount(amount_atom: int, currency: str) -> int:
    """An amount in ISO 4217 minor units as Stripe's API counts it (ISK 5 is 500 on Stripe)."""
    code = currency.lower()
    factor: int = 10 ** (STRIPE_EXPONENTS.get(code, exponent(code)) - exponent(code))
    return amount_atom * factor


async def find_by_key(
    list_page: Callable[[int, str | None], Awaitable[Page]], idempotency_key: str, limit: int
) -> dict[str, Any] | None:
    """The object whose metadata holds the key among the first ``limit`` of a list (newest first on Stripe), for
    the objects Stripe has no search of. ``list_page(size, starting_after)`` reads up to ``size`` objects after
    the one with id ``starting_after`` (None: from the first)."""
    seen = 0
    starting_after: str | None = None
    while seen < limit:
        page = await list_page(min(PAGE_SIZE, limit - seen), starting_after)
        for item in page.data:
            found = as_dict(item)
            if (found.get("metadata") or {}).get(METADATA_KEY) == idempotency_key:
                return found
        seen += len(page.data)
        if not page.has_more or not page.data:
            return None
        starting_after = page.data[-1].id
    return None


def declined(error: stripe.CardError, *, secret: str, reference: str | None = None) -> ChargeResult:
    """A card error: the bank said no, with Stripe's decline code (or its error code when there is none). The
    PaymentIntent is the error's, else ``reference``."""
    details = error_details(error)
    return ChargeResult(
        Outcome.DECLINED,
        processor_reference=error_intent_id(error) or reference,
        decline_code=decline_code(details.get("decline_code"), error.code),
        processor_message=scrub(str(details.get("message") or error.user_message or "card declined"), secret),
    )


def unavailable(error: stripe.StripeError, *, secret: str) -> ChargeResult:
    """Stripe didn't charge: it couldn't be reached, failed, throttled, or refused the key or the request."""
    return ChargeResult(Outcome.UNAVAILABLE, processor_message=describe(error, secret=secret))


def describe(error: stripe.StripeError, *, secret: str) -> str:
    """A Stripe error for the merchant's logs: its kind, status, code, message and request id, never the key."""
    parts = [type(error).__name__]
    if error.http_status is not None:
        parts.append(str(error.http_status))
    if error.code:
        parts.append(str(error.code))
    # Scrubbed before it is cut short, so no piece of the key survives at the cut.
    message = " ".join(scrub(str(error.user_message or ""), secret).split())[:MAX_MESSAGE_LENGTH] or "no message"
    request_id = f" (request {error.request_id})" if error.request_id else ""
    return f"{' '.join(parts)}: {message}{request_id}"


def scrub(text: str, secret: str) -> str:
    return text.replace(secret, REDACTED) if secret else text


def decline_code(decline_code: object, code: object) -> str | None:
    """Stripe's decline code, else its error code; a failed 3-D Secure challenge is ``authentication_failed``."""
    chosen = decline_code or code
    if chosen in _AUTHENTICATION_FAILURES:
        return DeclineCode.AUTHENTICATION_FAILED.value
    return str(chosen) if chosen else None


def action_url(next_action: Mapping[str, Any]) -> str | None:
    """Where the customer authenticates: Stripe's redirect. ``use_stripe_sdk`` has none to give: its contents are
    Stripe.js's own business (``stripe.handleNextAction`` reads them), not a page to send a customer to."""
    redirect = next_action.get("redirect_to_url") or {}
    url = redirect.get("url")
    return str(url) if url else None


def error_details(error: stripe.StripeError) -> Mapping[str, Any]:
    body = error.json_body if isinstance(error.json_body, Mapping) else {}
    details = body.get("error")
    return details if isinstance(details, Mapping) else {}


def error_intent_id(error: stripe.StripeError) -> str | None:
    return id_of(error_details(error).get("payment_intent"))


def id_of(value: object) -> str | None:
    """An expandable field's id: Stripe sends either the id or the object."""
    if isinstance(value, Mapping):
        value = value.get("id")
    return value if isinstance(value, str) else None


def as_dict(obj: stripe.StripeObject) -> dict[str, Any]:
    # Plain JSON: fields a server leaves out (localstripe leaves out many) read as absent, not as errors.
    return obj.to_dict()


def search_literal(value: str) -> str:
    """A string inside single quotes of Stripe's search query language."""
    return value.replace("\\", "\\\\").replace("'", "\\'")
