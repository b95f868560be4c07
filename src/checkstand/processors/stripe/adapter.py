"""The Stripe adapter itself, :class:`StripeProcessor`: its client and connection pool, and card payments as
PaymentIntents found again by the idempotency key (see the package's docstring). Setups, refunds and saved cards
are their own modules; the adapter hands them its client."""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Self

import stripe

from checkstand.processors.base import (
    ChargeRequest,
    ChargeResult,
    Outcome,
    OutcomeUnknown,
    RefundRequest,
    RefundResult,
    SaveCardRequest,
    SetupRequest,
)
from checkstand.processors.stripe import cards, refunds, setups
from checkstand.processors.stripe.transport import PublicOnlyHTTPClient
from checkstand.processors.stripe.wire import (
    MAX_SCAN,
    METADATA_KEY,
    RECENT_SCAN,
    Page,
    action_url,
    as_dict,
    decline_code,
    declined,
    describe,
    error_intent_id,
    find_by_key,
    id_of,
    search_literal,
    stripe_amount,
    unavailable,
)

if TYPE_CHECKING:
    from stripe.params import PaymentIntentCreateParams

DEFAULT_TIMEOUT_SECONDS: Final = 30.0
# Stripe's library retries a failed connection with the same idempotency key, so a retry never charges twice.
NETWORK_RETRIES: Final = 2


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
                return await self._intent_result(existing)
            if request.save_payment_method and "customer" not in params:
                # Saved means attached to a Stripe customer: only then can Stripe charge it off-session later.
                params["customer"] = await cards.new_customer(
                    self._client, request.idempotency_key, request.customer_email
                )
            intent = await self._client.v1.payment_intents.create_async(
                params, {"idempotency_key": request.idempotency_key}
            )
        except stripe.CardError as error:
            # Stripe's card error carries its PaymentIntent; localstripe's doesn't, so it is looked up.
            found = None if error_intent_id(error) else await self._reference_of(request.idempotency_key)
            return declined(error, secret=self._secret_key, reference=found)
        except stripe.StripeError as error:
            return unavailable(error, secret=self._secret_key)
        return await self._intent_result(as_dict(intent))

    async def save_card(self, request: SaveCardRequest) -> ChargeResult:
        """See :func:`checkstand.processors.stripe.cards.save_card`."""
        return await cards.save_card(self._client, self._secret_key, request)

    async def detach(self, processor_reference: str) -> None:
        """See :func:`checkstand.processors.stripe.cards.detach`."""
        await cards.detach(self._client, self._secret_key, processor_reference)

    async def lookup(self, idempotency_key: str) -> ChargeResult | None:
        """The result of the key's PaymentIntent, or None if Stripe never received it."""
        try:
            intent = await self._find(idempotency_key, recent=RECENT_SCAN)
        except stripe.StripeError as error:
            raise OutcomeUnknown(describe(error, secret=self._secret_key)) from None
        return None if intent is None else await self._intent_result(intent)

    async def confirm(self, processor_reference: str) -> ChargeResult:
        """The PaymentIntent's (or a setup's SetupIntent's) result now, once the customer has been through 3-D
        Secure (Stripe confirms it itself when the challenge ends: nothing is left to confirm, only to read)."""
        try:
            if processor_reference.startswith(setups.SETUP_INTENT_PREFIX):
                return await setups.setup_result(
                    self._client,
                    self._secret_key,
                    as_dict(await self._client.v1.setup_intents.retrieve_async(processor_reference)),
                )
            intent = await self._client.v1.payment_intents.retrieve_async(processor_reference)
        except stripe.StripeError as error:
            raise OutcomeUnknown(describe(error, secret=self._secret_key)) from None
        return await self._intent_result(as_dict(intent))

    async def refund(self, request: RefundRequest) -> RefundResult:
        """See :func:`checkstand.processors.stripe.refunds.refund`."""
        return await refunds.refund(self._client, self._secret_key, request)

    async def client_secret(self, processor_reference: str) -> str | None:
        """The PaymentIntent's client secret while it waits for the customer's challenge (``requires_action``), for
        Stripe.js to run it in their browser; None once it waits no more. It confirms the PaymentIntent from a
        browser, so the caller hands it to that customer's page only, and never stores or logs it."""
        try:
            if processor_reference.startswith(setups.SETUP_INTENT_PREFIX):
                intent = as_dict(await self._client.v1.setup_intents.retrieve_async(processor_reference))
            else:
                intent = as_dict(await self._client.v1.payment_intents.retrieve_async(processor_reference))
        except stripe.StripeError as error:
            raise OutcomeUnknown(describe(error, secret=self._secret_key)) from None
        secret = intent.get("client_secret")
        return secret if intent.get("status") == "requires_action" and isinstance(secret, str) else None

    async def setup(self, request: SetupRequest) -> ChargeResult:
        """See :func:`checkstand.processors.stripe.setups.setup`."""
        return await setups.setup(self._client, self._secret_key, request)

    async def lookup_setup(self, idempotency_key: str) -> ChargeResult | None:
        """See :func:`checkstand.processors.stripe.setups.lookup_setup`."""
        return await setups.lookup_setup(self._client, self._secret_key, idempotency_key)

    async def _intent_result(self, intent: Mapping[str, Any]) -> ChargeResult:
        """What a PaymentIntent says, with the saved method's card (:func:`.cards.with_saved_card`)."""
        return await cards.with_saved_card(self._client, self._secret_key, intent, result_of(intent))

    async def _find(self, idempotency_key: str, *, recent: int) -> dict[str, Any] | None:
        """The key's PaymentIntent: by search, then among the ``recent`` newest; by the list where search isn't
        offered (see the package's docstring)."""
        query = f"metadata['{METADATA_KEY}']:'{search_literal(idempotency_key)}'"
        try:
            found = await self._client.v1.payment_intents.search_async({"query": query, "limit": 1})
        except stripe.InvalidRequestError as error:
            if error.http_status != 404:
                raise
            return await self._scan(idempotency_key, MAX_SCAN)
        if found.data:
            return as_dict(found.data[0])
        return await self._scan(idempotency_key, recent) if recent else None

    async def _scan(self, idempotency_key: str, limit: int) -> dict[str, Any] | None:
        """The key's PaymentIntent among the first ``limit`` of the list (newest first on Stripe)."""

        async def page(size: int, starting_after: str | None) -> Page:
            if starting_after is None:
                return await self._client.v1.payment_intents.list_async({"limit": size})
            return await self._client.v1.payment_intents.list_async({"limit": size, "starting_after": starting_after})

        return await find_by_key(page, idempotency_key, limit)

    async def _reference_of(self, idempotency_key: str) -> str | None:
        """The PaymentIntent id of a declined charge, for servers whose card error doesn't carry it (localstripe).
        Best effort: the decline stands whatever this answers."""
        try:
            intent = await self._find(idempotency_key, recent=RECENT_SCAN)
        except stripe.StripeError:
            return None
        return None if intent is None else str(intent["id"])


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


def result_of(intent: Mapping[str, Any]) -> ChargeResult:
    """What a PaymentIntent (as Stripe's JSON) says about its charge."""
    status = intent.get("status")
    reference = str(intent["id"])
    if status in ("succeeded", "requires_capture"):
        saved = id_of(intent.get("payment_method")) if intent.get("setup_future_usage") else None
        return ChargeResult(Outcome.SUCCEEDED, processor_reference=reference, saved_payment_method=saved)
    if status == "requires_action":
        url = action_url(intent.get("next_action") or {})
        return ChargeResult(
            Outcome.REQUIRES_ACTION,
            processor_reference=reference,
            action_url=url,
            processor_message=None if url else "Stripe asks for Stripe.js (handleNextAction, or a return_url)",
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
        decline_code=decline_code(error.get("decline_code"), error.get("code")),
        processor_message=error.get("message") or f"PaymentIntent is {status}",
    )


def _check_same_charge(intent: Mapping[str, Any], params: PaymentIntentCreateParams) -> None:
    if (intent.get("amount"), intent.get("currency")) != (params["amount"], params["currency"]):
        raise ValueError(
            f"idempotency key already charged {intent.get('amount')} {intent.get('currency')} at Stripe; "
            f"this charge is {params['amount']} {params['currency']}"
        )
