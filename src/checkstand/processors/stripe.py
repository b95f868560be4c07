"""The Stripe adapter: card payments as PaymentIntents, through the official ``stripe`` library (async, over httpx).

A charge is one PaymentIntent, created and confirmed in one call (``confirm=True``) with the attempt's idempotency
key both as Stripe's ``Idempotency-Key`` and in the PaymentIntent's ``metadata`` (:data:`METADATA_KEY`). The header
makes Stripe replay a repeated request instead of charging again, but only for 24 hours, and fake Stripes such as
localstripe ignore it; the metadata lets the adapter find the PaymentIntent of a key at any age, so :meth:`charge`
looks first and never creates a second one, and :meth:`lookup` answers after a crash.

Stripe has no look-up by idempotency key, and no search on every server, so finding a key's PaymentIntent is:

1. Stripe's search (``metadata['checkstand_idempotency_key']:'...'``), indexed and cheap; but its index lags writes
   by up to a minute (an hour in an outage), so :meth:`lookup` then also reads the newest PaymentIntents
   (:data:`RECENT_SCAN`), which the list endpoint answers strongly consistent and newest first. :meth:`charge` skips
   that read: within the lag the ``Idempotency-Key`` header already guards it.
2. Where search isn't offered (404: localstripe; Stripe accounts in India), the list of PaymentIntents, scanned up
   to :data:`MAX_SCAN` of them.

Outcomes: ``succeeded`` (or ``requires_capture``); a card error or a PaymentIntent back at
``requires_payment_method`` is ``declined`` with Stripe's ``decline_code``, else its error ``code`` (an expired
card is ``expired_card``, a failed 3-D Secure challenge ``authentication_failed``); ``requires_action`` hands over
``next_action.redirect_to_url.url``, which Stripe gives when the charge carries a ``return_url``. Without one
(``use_stripe_sdk``; always so on localstripe, which refuses ``return_url``) the challenge runs in Stripe.js, which
has no URL to hand over: the hosted page's own authenticate page calls ``stripe.handleNextAction`` with the
PaymentIntent's client secret, read at that moment by :meth:`StripeProcessor.client_secret`. An
unreachable Stripe, a 5xx, a rate limit or a refused key or request is ``unavailable``: nothing was charged, so the
next processor may be tried. :meth:`lookup` and :meth:`confirm` raise :class:`OutcomeUnknown` instead, since an
``unavailable`` there would let the caller try another processor while this one may have charged.

The hosted page collects the card with Stripe's Payment Element (Stripe.js, in the customer's browser), which
turns it into a payment method id (``pm_...``): no card number ever reaches Checkstand for Stripe.

The secret key goes to Stripe's client and nowhere else: not into a repr, a log line (Stripe's library logs no
headers) or a message this module builds, which are scrubbed of it besides, in case a server echoes it. Stripe's
library does log whole response bodies at debug level, client secrets included, so its logger redacts them
(:class:`ClientSecretFilter`).

Every request goes to a public address over https only (:class:`PublicOnlyHTTPClient`), unless the operator allows
otherwise (``CHECKSTAND_PROCESSOR_ALLOW_PRIVATE_URLS``: localstripe on loopback): a merchant's ``api_base`` must not
reach this machine or its network, whatever its name resolves to. A refused request is ``unavailable`` (or
:class:`OutcomeUnknown`) like an unreachable Stripe, and nothing was sent.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, NoReturn, Self
from urllib.parse import urlsplit

import httpx
import stripe
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.core import clock
from checkstand.core.crypto import SecretBox
from checkstand.core.errors import CheckstandError, NotFound
from checkstand.core.json_depth import nests_deeper_than
from checkstand.core.lookup import one_or_not_found
from checkstand.core.money import exponent
from checkstand.core.nul import contains_nul
from checkstand.processors.base import (
    ChargeRequest,
    ChargeResult,
    DeclineCode,
    Outcome,
    OutcomeUnknown,
    RefundOutcome,
    RefundRequest,
    RefundResult,
    SaveCardRequest,
    SavedCard,
    SetupRequest,
)
from checkstand.processors.cards import UNKNOWN as UNKNOWN_BRAND
from checkstand.processors.connections import ALLOW_PRIVATE_SETTING, STRIPE, open_credentials
from checkstand.processors.models import Processor, StripeEvent
from checkstand.webhooks.egress import EgressRefused, PublicOnlyTransport

if TYPE_CHECKING:
    from stripe.params import (
        CustomerCreateParams,
        PaymentIntentCreateParams,
        PaymentIntentListParams,
        RefundCreateParams,
        RefundListParams,
        SetupIntentCreateParams,
        SetupIntentListParams,
    )

logger = logging.getLogger(__name__)

METADATA_KEY: Final = "checkstand_idempotency_key"
DEFAULT_TIMEOUT_SECONDS: Final = 30.0
# Stripe's library retries a failed connection with the same idempotency key, so a retry never charges twice.
NETWORK_RETRIES: Final = 2
PAGE_SIZE: Final = 100  # the most Stripe's list endpoint returns at once
RECENT_SCAN: Final = 100
MAX_SCAN: Final = 1000
# Stripe's amounts use ISO 4217's minor units, except ISK: two decimals on Stripe's API, none in ISO 4217.
STRIPE_EXPONENTS: Final[Mapping[str, int]] = {"isk": 2}
# Stripe's error code for a failed 3-D Secure challenge (Checkstand's decline code is authentication_failed).
_AUTHENTICATION_FAILURE: Final = "payment_intent_authentication_failure"
_SETUP_AUTHENTICATION_FAILURE: Final = "setup_intent_authentication_failure"
SETUP_INTENT_PREFIX: Final = "seti_"
WEBHOOK_TOLERANCE: Final = timedelta(seconds=300)
# The refund reasons Stripe takes; the SDK's others (manual, ...) are Checkstand's own and not sent.
STRIPE_REFUND_REASONS: Final = frozenset({"duplicate", "fraudulent", "requested_by_customer"})
# The HTTP statuses of a Stripe error that refuse a refund for good; any other error may have refunded.
_REFUND_REFUSALS: Final = frozenset({400, 402, 404})
PAYMENT_INTENT_EVENT_PREFIX: Final = "payment_intent."
# The columns of ``stripe_events`` that hold them.
MAX_EVENT_ID_LENGTH: Final = 255
MAX_EVENT_TYPE_LENGTH: Final = 100
MAX_MESSAGE_LENGTH: Final = 300
# httpx's default pool, which Stripe's library's own client has.
_POOL_LIMITS: Final = httpx.Limits(max_connections=100, max_keepalive_connections=20)
_REDACTED: Final = "[redacted]"
# Keys of a Stripe object that hold a secret: a PaymentIntent's client secret confirms it from a browser.
_SECRET_FIELDS: Final = frozenset({"client_secret"})
# A PaymentIntent's or SetupIntent's client secret, wherever it shows up in text.
_CLIENT_SECRET: Final = re.compile(r"\b(?:pi|seti)_[0-9A-Za-z]+_secret_[0-9A-Za-z]+")


class ClientSecretFilter(logging.Filter):
    """Redacts client secrets from the records of Stripe's library, which logs response bodies at debug level."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if _CLIENT_SECRET.search(message):
            record.msg, record.args = _CLIENT_SECRET.sub(_REDACTED, message), None
        return True


logging.getLogger("stripe").addFilter(ClientSecretFilter())


class InvalidSignature(CheckstandError):
    """An inbound webhook whose ``Stripe-Signature`` doesn't prove it came from Stripe, or whose body isn't an event."""

    status_code = 400
    code = "invalid_signature"
    title = "Invalid signature"


class StripeUnavailable(CheckstandError):
    """Stripe can't be reached to settle an event: a 503, so Stripe delivers it again later."""

    status_code = 503
    code = "processor_unavailable"
    title = "Processor unavailable"


class PublicOnlyHTTPClient(stripe.HTTPXClient):
    """Stripe's httpx client, sending over https only and connecting to public addresses only: the name is resolved,
    every address checked, and the checked one connected to (:class:`~checkstand.webhooks.egress.PublicOnlyTransport`,
    so no second resolution can answer otherwise, and TLS still verifies the name).

    Stripe's library takes no transport, so the httpx client it made (unused yet) is swapped for one over the
    checking transport, with Stripe's CA bundle as before. A refusal is policy, not a network failure: it is an
    ``APIConnectionError`` the library doesn't retry, saying why (it names the host, never the key)."""

    def __init__(self, timeout: float) -> None:
        super().__init__(timeout=timeout)
        if not isinstance(getattr(self, "_client_async", None), httpx.AsyncClient):  # a future stripe, unchecked
            raise RuntimeError("stripe.HTTPXClient keeps no _client_async to check the addresses of")
        self._client_async = httpx.AsyncClient(
            transport=PublicOnlyTransport(
                _POOL_LIMITS,
                allow_setting=ALLOW_PRIVATE_SETTING,
                ssl_context=ssl.create_default_context(cafile=stripe.ca_bundle_path),
            )
        )

    async def request_async(
        self, method: str, url: str, headers: Mapping[str, str], post_data: Any = None
    ) -> tuple[bytes, int, Mapping[str, str]]:
        if urlsplit(url).scheme != "https":
            raise _refused(f"refused: the secret key goes over https only ({ALLOW_PRIVATE_SETTING} allows http)")
        response: tuple[bytes, int, Mapping[str, str]] = await super().request_async(method, url, headers, post_data)
        return response

    def _handle_request_error(self, e: Exception) -> NoReturn:
        if isinstance(e.__cause__, EgressRefused):
            raise _refused(str(e.__cause__)) from e
        super()._handle_request_error(e)


def _refused(reason: str) -> stripe.APIConnectionError:
    """A request the address or scheme check refused, which Stripe's library must not retry."""
    error: stripe.APIConnectionError = stripe.APIConnectionError(reason, should_retry=False)  # type: ignore[no-untyped-call]
    return error


class StripeProcessor:
    """One Stripe account behind :class:`~checkstand.processors.base.ProcessorAdapter`.

    ``api_base`` points the client at another server than ``api.stripe.com`` (localstripe, in tests); it is reached
    only on public addresses over https unless ``allow_private_urls`` (the operator's
    ``CHECKSTAND_PROCESSOR_ALLOW_PRIVATE_URLS``). It owns an HTTP connection pool: use it as
    ``async with StripeProcessor(...) as adapter`` (or call :meth:`aclose`)."""

    def __init__(
        self,
        secret_key: str,
        api_base: str | None = None,
        *,
        allow_private_urls: bool = False,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        network_retries: int = NETWORK_RETRIES,
    ) -> None:
        self._secret_key = secret_key
        self.api_base = api_base or stripe.DEFAULT_API_BASE
        self._http = stripe.HTTPXClient(timeout=timeout) if allow_private_urls else PublicOnlyHTTPClient(timeout)
        self._client = stripe.StripeClient(
            secret_key,
            base_addresses={"api": self.api_base},
            http_client=self._http,
            max_network_retries=network_retries,
        )

    def __repr__(self) -> str:
        return f"StripeProcessor(api_base={self.api_base!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.close_async()  # type: ignore[no-untyped-call]

    async def charge(self, request: ChargeRequest) -> ChargeResult:
        """Create and confirm the key's PaymentIntent, or answer the one it already has. The same key with another
        amount or currency is a bug in the caller, so it raises ``ValueError`` rather than guessing."""
        params = intent_params(request)
        try:
            existing = await self._find(request.idempotency_key, recent=0)
            if existing is not None:
                _check_same_charge(existing, params)
                return await self._with_saved_card(existing)
            if request.save_payment_method and "customer" not in params:
                # Saved means attached to a Stripe customer: only then can Stripe charge it off-session later.
                params["customer"] = await self._new_customer(request.idempotency_key, request.customer_email)
            intent = await self._client.v1.payment_intents.create_async(
                params, {"idempotency_key": request.idempotency_key}
            )
        except stripe.CardError as error:
            # Stripe's card error carries its PaymentIntent; localstripe's doesn't, so it is looked up.
            found = None if _error_intent_id(error) else await self._reference_of(request.idempotency_key)
            return declined(error, secret=self._secret_key, reference=found)
        except stripe.StripeError as error:
            return unavailable(error, secret=self._secret_key)
        return await self._with_saved_card(_as_dict(intent))

    async def save_card(self, request: SaveCardRequest) -> ChargeResult:
        """A PaymentMethod for the card, attached to a new Stripe customer: what Stripe charges off-session later.
        Each step carries a key derived from the request's, so a repeated request makes no second customer on
        Stripe. Stripe accepts raw card numbers from servers it has allowed to send them (and fake Stripes);
        others refuse, which is ``unavailable`` here."""
        key = request.idempotency_key
        card = request.card
        try:
            method = await self._client.v1.payment_methods.create_async(
                {
                    "type": "card",
                    "card": {
                        "number": card.number,
                        "exp_month": card.exp_month,
                        "exp_year": card.exp_year,
                        "cvc": card.cvc,
                    },
                },
                {"idempotency_key": f"{key}:payment_method"},
            )
            customer = await self._new_customer(key, request.customer_email)
            attached = await self._client.v1.payment_methods.attach_async(
                method.id, {"customer": customer}, {"idempotency_key": f"{key}:attach"}
            )
        except stripe.CardError as error:
            return declined(error, secret=self._secret_key)
        except stripe.StripeError as error:
            return unavailable(error, secret=self._secret_key)
        return ChargeResult(
            Outcome.SUCCEEDED,
            processor_reference=method.id,
            saved_payment_method=method.id,
            saved_card=saved_card_of(_as_dict(attached), customer),
        )

    async def detach(self, processor_reference: str) -> None:
        """Stripe's PaymentMethod.detach. A method Stripe no longer has attached (or never had) is forgotten
        already: nothing is left to do."""
        try:
            await self._client.v1.payment_methods.detach_async(processor_reference)
        except stripe.InvalidRequestError as error:
            if error.http_status not in (400, 404):
                raise OutcomeUnknown(describe(error, secret=self._secret_key)) from None
        except stripe.StripeError as error:
            raise OutcomeUnknown(describe(error, secret=self._secret_key)) from None

    async def _new_customer(self, idempotency_key: str, email: str | None) -> str:
        """A Stripe customer for a method being saved, created once per key (the key is also in its metadata)."""
        params: CustomerCreateParams = {"metadata": {METADATA_KEY: idempotency_key}}
        if email is not None:
            params["email"] = email
        customer = await self._client.v1.customers.create_async(
            params, {"idempotency_key": f"{idempotency_key}:customer"}
        )
        return customer.id

    async def _with_saved_card(self, intent: Mapping[str, Any]) -> ChargeResult:
        """The PaymentIntent's result, with the saved method's card as Stripe has it. Stripe attaches a method
        saved with ``setup_future_usage`` to the PaymentIntent's customer itself; a server that doesn't (localstripe)
        is asked to. The charge stands whatever this read answers: a failure leaves the result without the card."""
        result = result_of(intent)
        if result.saved_payment_method is None:
            return result
        customer = _id_of(intent.get("customer"))
        try:
            method = _as_dict(await self._client.v1.payment_methods.retrieve_async(result.saved_payment_method))
            if customer is not None and _id_of(method.get("customer")) is None:
                method = _as_dict(
                    await self._client.v1.payment_methods.attach_async(
                        result.saved_payment_method, {"customer": customer}
                    )
                )
        except stripe.StripeError as error:
            problem = f"the saved PaymentMethod couldn't be read: {describe(error, secret=self._secret_key)}"
            return dataclasses.replace(result, processor_message=problem)
        return dataclasses.replace(result, saved_card=saved_card_of(method, customer))

    async def lookup(self, idempotency_key: str) -> ChargeResult | None:
        """The result of the key's PaymentIntent, or None if Stripe never received it."""
        try:
            intent = await self._find(idempotency_key, recent=RECENT_SCAN)
        except stripe.StripeError as error:
            raise OutcomeUnknown(describe(error, secret=self._secret_key)) from None
        return None if intent is None else await self._with_saved_card(intent)

    async def confirm(self, processor_reference: str) -> ChargeResult:
        """The PaymentIntent's (or a setup's SetupIntent's) result now, once the customer has been through 3-D
        Secure (Stripe confirms it itself when the challenge ends: nothing is left to confirm, only to read)."""
        try:
            if processor_reference.startswith(SETUP_INTENT_PREFIX):
                return await self._setup_result(
                    _as_dict(await self._client.v1.setup_intents.retrieve_async(processor_reference))
                )
            intent = await self._client.v1.payment_intents.retrieve_async(processor_reference)
        except stripe.StripeError as error:
            raise OutcomeUnknown(describe(error, secret=self._secret_key)) from None
        return await self._with_saved_card(_as_dict(intent))

    async def refund(self, request: RefundRequest) -> RefundResult:
        """Refund part of the key's PaymentIntent (``processor_reference``) once: the key is Stripe's
        ``Idempotency-Key`` and goes in the refund's metadata, where :meth:`refund` looks first, as :meth:`charge`
        does. A refund Stripe holds ``pending`` (or that can't be asked for) raises :class:`OutcomeUnknown`: asking
        again later with the key answers how it ended. Stripe refusing it (more than is left, an unknown
        PaymentIntent) is ``failed``."""
        params = refund_params(request)
        try:
            existing = await self._find_refund(request.idempotency_key, request.processor_reference)
            if existing is not None:
                if existing.get("amount") != params["amount"]:
                    raise ValueError(
                        f"idempotency key already refunded {existing.get('amount')} at Stripe; "
                        f"this refund is {params['amount']}"
                    )
                return refund_result_of(existing)
            created = await self._client.v1.refunds.create_async(params, {"idempotency_key": request.idempotency_key})
        except stripe.StripeError as error:
            if error.http_status in _REFUND_REFUSALS:
                return RefundResult(
                    RefundOutcome.FAILED,
                    failure_code=str(error.code or "refund_refused"),
                    failure_message=describe(error, secret=self._secret_key),
                )
            raise OutcomeUnknown(describe(error, secret=self._secret_key)) from None
        return refund_result_of(_as_dict(created))

    async def _find_refund(self, idempotency_key: str, payment_intent: str) -> dict[str, Any] | None:
        """The key's refund among the PaymentIntent's refunds (a PaymentIntent has few), scanned up to
        :data:`MAX_SCAN`."""
        params: RefundListParams = {"payment_intent": payment_intent, "limit": PAGE_SIZE}
        seen = 0
        while seen < MAX_SCAN:
            page = await self._client.v1.refunds.list_async(params)
            for item in page.data:
                refund = _as_dict(item)
                if (refund.get("metadata") or {}).get(METADATA_KEY) == idempotency_key:
                    return refund
            seen += len(page.data)
            if not page.has_more or not page.data:
                return None
            params = {"payment_intent": payment_intent, "limit": PAGE_SIZE, "starting_after": page.data[-1].id}
        return None

    async def client_secret(self, processor_reference: str) -> str | None:
        """The PaymentIntent's client secret while it waits for the customer's challenge (``requires_action``), for
        Stripe.js to run it in their browser; None once it waits no more. It confirms the PaymentIntent from a
        browser, so the caller hands it to that customer's page only, and never stores or logs it."""
        try:
            if processor_reference.startswith(SETUP_INTENT_PREFIX):
                intent = _as_dict(await self._client.v1.setup_intents.retrieve_async(processor_reference))
            else:
                intent = _as_dict(await self._client.v1.payment_intents.retrieve_async(processor_reference))
        except stripe.StripeError as error:
            raise OutcomeUnknown(describe(error, secret=self._secret_key)) from None
        secret = intent.get("client_secret")
        return secret if intent.get("status") == "requires_action" and isinstance(secret, str) else None

    async def setup(self, request: SetupRequest) -> ChargeResult:
        """Save the payment method for off-session charges without charging it: a SetupIntent (``usage``
        off_session) for a new Stripe Customer, created with the key in its metadata and then confirmed with the
        method (localstripe takes the method only at confirmation). The key's SetupIntent, if it has one, is
        answered instead, or confirmed if a crash came between its creation and its confirmation: a key saves once.
        """
        method = request.payment_method.processor_reference
        if method is None:
            raise ValueError("Stripe saves a payment method id (pm_...); card details never reach Checkstand's server")
        key = request.idempotency_key
        intent: dict[str, Any] | None = None
        try:
            intent = await self._find_setup(key)
            if intent is None:
                params: SetupIntentCreateParams = {
                    "customer": await self._new_customer(key, request.customer_email),
                    "usage": "off_session",
                    # Cards only, as for a charge (see intent_params).
                    "allowed_payment_method_types": ["card"],
                    "metadata": {METADATA_KEY: key},
                }
                intent = _as_dict(await self._client.v1.setup_intents.create_async(params, {"idempotency_key": key}))
            if _never_confirmed(intent):
                confirmed = await self._client.v1.setup_intents.confirm_async(
                    str(intent["id"]), {"payment_method": method}, {"idempotency_key": f"{key}:confirm"}
                )
                intent = _as_dict(confirmed)
            return await self._setup_result(intent)
        except stripe.CardError as error:
            # The SetupIntent the card was refused on: the error's on Stripe, the one just made on localstripe.
            reference = _id_of(_error_details(error).get("setup_intent")) or _id_of(intent)
            return declined(error, secret=self._secret_key, reference=reference)
        except stripe.StripeError as error:
            return unavailable(error, secret=self._secret_key)

    async def lookup_setup(self, idempotency_key: str) -> ChargeResult | None:
        """The result of the key's SetupIntent, or None if Stripe never received it, or never the payment method
        (a crash between its creation and its confirmation: nothing was saved)."""
        try:
            intent = await self._find_setup(idempotency_key)
            if intent is None or _never_confirmed(intent):
                return None
            return await self._setup_result(intent)
        except stripe.StripeError as error:
            raise OutcomeUnknown(describe(error, secret=self._secret_key)) from None

    async def _find_setup(self, idempotency_key: str) -> dict[str, Any] | None:
        """The key's SetupIntent among the newest :data:`MAX_SCAN` (Stripe offers no search of SetupIntents)."""
        seen = 0
        params: SetupIntentListParams = {"limit": PAGE_SIZE}
        while seen < MAX_SCAN:
            page = await self._client.v1.setup_intents.list_async(params)
            for item in page.data:
                intent = _as_dict(item)
                if (intent.get("metadata") or {}).get(METADATA_KEY) == idempotency_key:
                    return intent
            seen += len(page.data)
            if not page.has_more or not page.data:
                return None
            params = {"limit": PAGE_SIZE, "starting_after": page.data[-1].id}
        return None

    async def _setup_result(self, intent: Mapping[str, Any]) -> ChargeResult:
        """What a SetupIntent says, with the saved method's card, as :meth:`_with_saved_card` for a charge: Stripe
        attaches the method to the SetupIntent's customer itself, localstripe is asked to."""
        result = setup_result_of(intent)
        if result.saved_payment_method is None:
            return result
        customer = _id_of(intent.get("customer"))
        try:
            method = _as_dict(await self._client.v1.payment_methods.retrieve_async(result.saved_payment_method))
            if customer is not None and _id_of(method.get("customer")) is None:
                method = _as_dict(
                    await self._client.v1.payment_methods.attach_async(
                        result.saved_payment_method, {"customer": customer}
                    )
                )
        except stripe.StripeError as error:
            problem = f"the saved PaymentMethod couldn't be read: {describe(error, secret=self._secret_key)}"
            return dataclasses.replace(result, processor_message=problem)
        return dataclasses.replace(result, saved_card=saved_card_of(method, customer))

    async def _find(self, idempotency_key: str, *, recent: int) -> dict[str, Any] | None:
        """The key's PaymentIntent: by search, then among the ``recent`` newest; by the list where search isn't
        offered (see the module's docstring)."""
        query = f"metadata['{METADATA_KEY}']:'{_search_literal(idempotency_key)}'"
        try:
            found = await self._client.v1.payment_intents.search_async({"query": query, "limit": 1})
        except stripe.InvalidRequestError as error:
            if error.http_status != 404:
                raise
            return await self._scan(idempotency_key, MAX_SCAN)
        if found.data:
            return _as_dict(found.data[0])
        return await self._scan(idempotency_key, recent) if recent else None

    async def _scan(self, idempotency_key: str, limit: int) -> dict[str, Any] | None:
        """The key's PaymentIntent among the first ``limit`` of the list (newest first on Stripe)."""
        seen = 0
        params: PaymentIntentListParams = {"limit": min(PAGE_SIZE, limit)}
        while seen < limit:
            page = await self._client.v1.payment_intents.list_async(params)
            for item in page.data:
                intent = _as_dict(item)
                if (intent.get("metadata") or {}).get(METADATA_KEY) == idempotency_key:
                    return intent
            seen += len(page.data)
            if not page.has_more or not page.data:
                return None
            params = {"limit": min(PAGE_SIZE, limit - seen), "starting_after": page.data[-1].id}
        return None

    async def _reference_of(self, idempotency_key: str) -> str | None:
        """The PaymentIntent id of a declined charge, for servers whose card error doesn't carry it (localstripe).
        Best effort: the decline stands whatever this answers."""
        try:
            intent = await self._find(idempotency_key, recent=RECENT_SCAN)
        except stripe.StripeError:
            return None
        return None if intent is None else str(intent["id"])


def stripe_amount(amount_atom: int, currency: str) -> int:
    """An amount in ISO 4217 minor units as Stripe's API counts it (ISK 5 is 500 on Stripe)."""
    code = currency.lower()
    factor: int = 10 ** (STRIPE_EXPONENTS.get(code, exponent(code)) - exponent(code))
    return amount_atom * factor


def intent_params(request: ChargeRequest) -> PaymentIntentCreateParams:
    """The PaymentIntent a charge creates. Optional parameters are sent only when the charge has them, because
    test servers refuse parameters they don't know (localstripe knows neither ``return_url`` nor
    ``setup_future_usage``)."""
    method = request.payment_method.processor_reference
    if method is None:
        raise ValueError("Stripe charges a payment method id (pm_...); card details never reach Checkstand's server")
    params: PaymentIntentCreateParams = {
        "amount": stripe_amount(request.amount_atom, request.currency),
        "currency": request.currency.lower(),
        "payment_method": method,
        # Cards only, as the hosted page's Payment Element offers. With Stripe's default (every payment method of the
        # Dashboard, some of which redirect) a confirm on the server would also need a return_url.
        "allowed_payment_method_types": ["card"],
        "confirm": True,
        "metadata": {METADATA_KEY: request.idempotency_key},
    }
    if request.return_url is not None:
        params["return_url"] = request.return_url
    if request.save_payment_method:
        params["setup_future_usage"] = "off_session"
    if request.processor_customer_reference is not None:
        params["customer"] = request.processor_customer_reference
        if not request.save_payment_method:
            # A saved method charged for a renewal: the customer isn't there, so Stripe must not wait for them.
            params["off_session"] = True
    if request.description is not None:
        params["description"] = request.description
    return params


def saved_card_of(method: Mapping[str, Any], customer: str | None) -> SavedCard | None:
    """What a PaymentMethod (Stripe's JSON) tells of its card; None for a method that isn't a card."""
    card = method.get("card") or {}
    if not card.get("last4"):
        return None
    return SavedCard(
        brand=str(card.get("brand") or UNKNOWN_BRAND),
        last4=str(card["last4"]),
        exp_month=int(card.get("exp_month") or 0),
        exp_year=int(card.get("exp_year") or 0),
        processor_customer_reference=_id_of(method.get("customer")) or customer,
    )


def refund_params(request: RefundRequest) -> RefundCreateParams:
    """The refund a request creates: of the PaymentIntent, in Stripe's units. ``reason`` only when Stripe has it
    (test servers refuse parameters they don't know, and localstripe knows no reason at all)."""
    params: RefundCreateParams = {
        "payment_intent": request.processor_reference,
        "amount": stripe_amount(request.amount_atom, request.currency),
        "metadata": {METADATA_KEY: request.idempotency_key},
    }
    if request.reason in STRIPE_REFUND_REASONS:
        params["reason"] = request.reason
    return params


def refund_result_of(refund: Mapping[str, Any]) -> RefundResult:
    """What a Stripe refund says: succeeded, or failed (failed or canceled at Stripe); Stripe still working on it
    (pending, requires_action) is :class:`OutcomeUnknown` until it decides."""
    status = refund.get("status")
    reference = str(refund["id"])
    if status == "succeeded":
        return RefundResult(RefundOutcome.SUCCEEDED, processor_refund_id=reference)
    if status in ("failed", "canceled"):
        return RefundResult(
            RefundOutcome.FAILED,
            processor_refund_id=reference,
            failure_code=str(refund.get("failure_reason") or status),
            failure_message=f"Stripe's refund {reference} is {status}.",
        )
    raise OutcomeUnknown(f"Stripe's refund {reference} is {status}")


def result_of(intent: Mapping[str, Any]) -> ChargeResult:
    """What a PaymentIntent (as Stripe's JSON) says about its charge."""
    status = intent.get("status")
    reference = str(intent["id"])
    if status in ("succeeded", "requires_capture"):
        saved = _id_of(intent.get("payment_method")) if intent.get("setup_future_usage") else None
        return ChargeResult(Outcome.SUCCEEDED, processor_reference=reference, saved_payment_method=saved)
    if status == "requires_action":
        action_url = _action_url(intent.get("next_action") or {})
        return ChargeResult(
            Outcome.REQUIRES_ACTION,
            processor_reference=reference,
            action_url=action_url,
            processor_message=None if action_url else "Stripe asks for Stripe.js (handleNextAction, or a return_url)",
        )
    if status == "processing":
        # Stripe has the payment and will decide it later (settled by webhook): not a failure, nor another
        # processor's turn. Waiting is what requires_action already means to the caller.
        return ChargeResult(
            Outcome.REQUIRES_ACTION, processor_reference=reference, processor_message="processing at Stripe"
        )
    error = intent.get("last_payment_error") or {}
    return ChargeResult(
        Outcome.DECLINED,
        processor_reference=reference,
        decline_code=_decline_code(error.get("decline_code"), error.get("code")),
        processor_message=error.get("message") or f"PaymentIntent is {status}",
    )


def setup_result_of(intent: Mapping[str, Any]) -> ChargeResult:
    """What a SetupIntent (as Stripe's JSON) says about saving its payment method: ``requires_payment_method``
    after a confirmation, or ``canceled``, is the card refused (a failed 3-D Secure challenge is
    ``authentication_failed``)."""
    status = intent.get("status")
    reference = str(intent["id"])
    if status == "succeeded":
        return ChargeResult(
            Outcome.SUCCEEDED, processor_reference=reference, saved_payment_method=_id_of(intent.get("payment_method"))
        )
    if status in ("requires_action", "processing"):
        action_url = _action_url(intent.get("next_action") or {})
        return ChargeResult(
            Outcome.REQUIRES_ACTION,
            processor_reference=reference,
            action_url=action_url,
            processor_message=None if action_url else f"Stripe's SetupIntent is {status}",
        )
    error = intent.get("last_setup_error") or {}
    return ChargeResult(
        Outcome.DECLINED,
        processor_reference=reference,
        decline_code=_decline_code(error.get("decline_code"), error.get("code")) or DeclineCode.GENERIC_DECLINE.value,
        processor_message=error.get("message") or f"SetupIntent is {status}",
    )


def _never_confirmed(intent: Mapping[str, Any]) -> bool:
    """A SetupIntent created but never given its payment method (a crash came in between)."""
    return (
        intent.get("status") == "requires_payment_method"
        and not intent.get("payment_method")
        and not intent.get("last_setup_error")
    )


def declined(error: stripe.CardError, *, secret: str, reference: str | None = None) -> ChargeResult:
    """A card error: the bank said no, with Stripe's decline code (or its error code when there is none). The
    PaymentIntent is the error's, else ``reference``."""
    details = _error_details(error)
    return ChargeResult(
        Outcome.DECLINED,
        processor_reference=_error_intent_id(error) or reference,
        decline_code=_decline_code(details.get("decline_code"), error.code),
        processor_message=_scrub(str(details.get("message") or error.user_message or "card declined"), secret),
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
    message = " ".join(_scrub(str(error.user_message or ""), secret).split())[:MAX_MESSAGE_LENGTH] or "no message"
    request_id = f" (request {error.request_id})" if error.request_id else ""
    return f"{' '.join(parts)}: {message}{request_id}"


def _scrub(text: str, secret: str) -> str:
    return text.replace(secret, _REDACTED) if secret else text


def _decline_code(decline_code: object, code: object) -> str | None:
    chosen = decline_code or code
    if chosen in (_AUTHENTICATION_FAILURE, _SETUP_AUTHENTICATION_FAILURE):
        return DeclineCode.AUTHENTICATION_FAILED.value
    return str(chosen) if chosen else None


def _action_url(next_action: Mapping[str, Any]) -> str | None:
    """Where the customer authenticates: Stripe's redirect. ``use_stripe_sdk`` has none to give: its contents are
    Stripe.js's own business (``stripe.handleNextAction`` reads them), not a page to send a customer to."""
    redirect = next_action.get("redirect_to_url") or {}
    url = redirect.get("url")
    return str(url) if url else None


def _check_same_charge(intent: Mapping[str, Any], params: PaymentIntentCreateParams) -> None:
    if (intent.get("amount"), intent.get("currency")) != (params["amount"], params["currency"]):
        raise ValueError(
            f"idempotency key already charged {intent.get('amount')} {intent.get('currency')} at Stripe; "
            f"this charge is {params['amount']} {params['currency']}"
        )


def _error_details(error: stripe.StripeError) -> Mapping[str, Any]:
    body = error.json_body if isinstance(error.json_body, Mapping) else {}
    details = body.get("error")
    return details if isinstance(details, Mapping) else {}


def _error_intent_id(error: stripe.StripeError) -> str | None:
    return _id_of(_error_details(error).get("payment_intent"))


def _id_of(value: object) -> str | None:
    """An expandable field's id: Stripe sends either the id or the object."""
    if isinstance(value, Mapping):
        value = value.get("id")
    return value if isinstance(value, str) else None


def _as_dict(obj: stripe.StripeObject) -> dict[str, Any]:
    # Plain JSON: fields a server leaves out (localstripe leaves out many) read as absent, not as errors.
    return obj.to_dict()


def _search_literal(value: str) -> str:
    """A string inside single quotes of Stripe's search query language."""
    return value.replace("\\", "\\\\").replace("'", "\\'")


# ---------------------------------------------------------------------------------------------------------------
# Inbound webhooks


@dataclass(frozen=True)
class Settlement:
    """What a Stripe event means for a charge Checkstand made: the charge with ``idempotency_key`` on the event's
    connection now stands at ``result``."""

    idempotency_key: str
    result: ChargeResult


@dataclass(frozen=True)
class Receipt:
    """What receiving one delivery did. ``settlement`` is for the payment flow to apply to its attempt (see
    :func:`store_delivery`)."""

    event_id: str
    event_type: str
    duplicate: bool
    settlement: Settlement | None


@dataclass(frozen=True)
class Delivery:
    """A delivery whose signature verified: the event, and the connection it came to with the key that settles it.
    Neither the event (it may hold a client secret and customer data) nor the key shows in a repr."""

    processor_id: str
    account_id: str
    api_base: str | None
    event: dict[str, Any] = field(repr=False)
    secret_key: str = field(repr=False)

    @property
    def event_id(self) -> str:
        return str(self.event["id"])

    @property
    def event_type(self) -> str:
        return str(self.event["type"])


async def settlement_for(adapter: StripeProcessor, event: Mapping[str, Any]) -> Settlement | None:
    """The settle hook: for an event about a PaymentIntent Checkstand created, the PaymentIntent's result as Stripe
    has it now. Read from Stripe rather than from the event, because Stripe delivers events in no set order and
    an older snapshot (``requires_action``) must not undo a newer state (``succeeded``). None for any other event.
    Raises :class:`OutcomeUnknown` when Stripe can't be asked."""
    if not str(event.get("type", "")).startswith(PAYMENT_INTENT_EVENT_PREFIX):
        return None
    intent = (event.get("data") or {}).get("object") or {}
    key = (intent.get("metadata") or {}).get(METADATA_KEY)
    if intent.get("object") != "payment_intent" or not isinstance(key, str) or not isinstance(intent.get("id"), str):
        return None
    return Settlement(idempotency_key=key, result=await adapter.confirm(intent["id"]))


async def verify_delivery(
    session: AsyncSession, box: SecretBox, processor_id: str, payload: bytes, signature: str | None
) -> Delivery:
    """One delivery to a Stripe connection's webhook, verified: the signature is Stripe's (``Stripe-Signature``:
    ``t=<unix time>,v1=<HMAC-SHA256 of "<t>.<body>">``) under the connection's webhook secret, no older than
    :data:`WEBHOOK_TOLERANCE` by Checkstand's clock. Raises :class:`InvalidSignature`, or ``NotFound`` for a
    connection that has no webhook.

    Receiving is then three steps, so that Stripe is never asked inside a transaction: :func:`repeated_delivery`
    (a read), :func:`settle_delivery` (Stripe's answer, no transaction open), and :func:`store_delivery` with
    the settlement applied and :func:`mark_processed`, in one transaction."""
    processor = await _webhook_connection(session, processor_id)
    credentials = open_credentials(box, processor)
    if credentials is None:
        raise NotFound("processor", processor_id)
    event = verify_event(payload, signature, credentials.webhook_secret)
    return Delivery(processor.id, processor.account_id, processor.api_base, event, credentials.secret_key)


async def repeated_delivery(session: AsyncSession, delivery: Delivery) -> Receipt | None:
    """The receipt of an event already stored (Stripe retries, and may deliver twice), which changes nothing; None
    for a new one."""
    if await session.get(StripeEvent, (delivery.event_id, delivery.processor_id)) is None:
        return None
    return _repeat(delivery)


async def settle_delivery(delivery: Delivery, *, allow_private_urls: bool = False) -> Settlement | None:
    """The settlement of a PaymentIntent event, read from Stripe now (:func:`settlement_for`); call it with no
    transaction open. Raises :class:`StripeUnavailable` (503) when Stripe can't be asked: nothing is stored then,
    and Stripe delivers again. ``allow_private_urls``: see :class:`StripeProcessor`."""
    async with StripeProcessor(
        delivery.secret_key, delivery.api_base, allow_private_urls=allow_private_urls
    ) as adapter:
        try:
            return await settlement_for(adapter, delivery.event)
        except OutcomeUnknown as error:
            raise StripeUnavailable(f"Stripe can't be reached to settle event {delivery.event_id!r}: {error}") from None


async def store_delivery(session: AsyncSession, delivery: Delivery, settlement: Settlement | None) -> Receipt:
    """Store the event once per connection, without its secrets; a concurrent delivery of it that stored first
    makes this one a repeat. An event with nothing to settle is processed as it is stored; one with a settlement
    is marked processed (:func:`mark_processed`) by whoever applies it, in the same transaction."""
    stored = StripeEvent(
        id=delivery.event_id,
        processor_id=delivery.processor_id,
        account_id=delivery.account_id,
        type=delivery.event_type,
        payload=_redacted(delivery.event),
        received_at=clock.now(),
        processed_at=clock.now() if settlement is None else None,
    )
    try:
        # A savepoint: a concurrent delivery of the same event loses the insert, not the caller's transaction.
        async with session.begin_nested():
            session.add(stored)
    except IntegrityError:
        return _repeat(delivery)
    logger.info(
        "Stripe event %s (%s) for processor %s stored", delivery.event_id, delivery.event_type, delivery.processor_id
    )
    return Receipt(delivery.event_id, delivery.event_type, duplicate=False, settlement=settlement)


async def mark_processed(session: AsyncSession, delivery: Delivery) -> None:
    """The stored event's settlement is applied."""
    stored = await session.get(StripeEvent, (delivery.event_id, delivery.processor_id))
    if stored is not None:
        stored.processed_at = clock.now()
        await session.flush()


def _repeat(delivery: Delivery) -> Receipt:
    logger.info("Stripe event %s for processor %s received again; ignored", delivery.event_id, delivery.processor_id)
    return Receipt(delivery.event_id, delivery.event_type, duplicate=True, settlement=None)


def verify_event(payload: bytes, signature: str | None, webhook_secret: str) -> dict[str, Any]:
    """The event a delivery carries, once its signature is verified by Stripe's library (the time check is made
    against Checkstand's clock, so tests can move it). Raises :class:`InvalidSignature`."""
    try:
        stripe.WebhookSignature.verify_header(payload, signature, webhook_secret, tolerance=None)
        # Stripe's events nest a few levels; a deeper body would be a RecursionError in the parser.
        event: Any = None if nests_deeper_than(payload) else json.loads(payload)
    except (stripe.SignatureVerificationError, ValueError) as error:  # UnicodeDecodeError is a ValueError
        raise InvalidSignature(_signature_problem(error)) from None
    assert signature is not None  # verified above
    if _signed_at(signature) < (clock.now() - WEBHOOK_TOLERANCE).timestamp():
        raise InvalidSignature("The signature's timestamp is too old; a replayed delivery is refused.")
    if not _is_event(event) or contains_nul(event):
        raise InvalidSignature("The body is not a Stripe event.")
    return dict(event)


def _signed_at(signature: str) -> int:
    """The ``t=`` of a header that has verified (so it has exactly one, a whole number)."""
    return int(next(value for name, _, value in (item.partition("=") for item in signature.split(",")) if name == "t"))


def _signature_problem(error: Exception) -> str:
    # Stripe's own messages name the problem without quoting the secret; a JSON error may quote the body, so no.
    if isinstance(error, stripe.SignatureVerificationError):
        return f"Stripe-Signature doesn't verify: {error.user_message}"
    return "The body is not a Stripe event."


def _is_event(event: object) -> bool:
    if not isinstance(event, dict):
        return False
    event_id, event_type = event.get("id"), event.get("type")
    return (
        isinstance(event_id, str)
        and 0 < len(event_id) <= MAX_EVENT_ID_LENGTH
        and isinstance(event_type, str)
        and 0 < len(event_type) <= MAX_EVENT_TYPE_LENGTH
    )


def _redacted(value: Any) -> Any:
    """The event without its secrets (a PaymentIntent's ``client_secret``), as it is stored."""
    if isinstance(value, Mapping):
        return {key: _REDACTED if key in _SECRET_FIELDS else _redacted(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_redacted(item) for item in value]
    return value


async def _webhook_connection(session: AsyncSession, processor_id: str) -> Processor:
    """The Stripe connection a webhook URL names. The URL carries no account: the processor id (128 random bits,
    given to Stripe's dashboard only) is what finds it, and the signature under its secret what trusts it. A
    deactivated connection still receives, since its payments in flight still settle; a deleted one does not."""
    return await one_or_not_found(
        session,
        select(Processor).where(Processor.id == processor_id, Processor.type == STRIPE, Processor.deleted_at.is_(None)),
        "processor",
        processor_id,
    )
