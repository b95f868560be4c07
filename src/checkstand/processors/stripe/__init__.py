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

The package is split by what each part talks to Stripe about, so a change to one doesn't mean reading all of them:
:mod:`.adapter` (:class:`StripeProcessor`: charges, confirmations, look-ups), :mod:`.setups` (SetupIntents),
:mod:`.refunds`, :mod:`.cards` (saved cards and their customers), :mod:`.transport` (the public-only HTTP client,
redacted logs), :mod:`.webhooks` (inbound events) and :mod:`.wire` (Stripe's JSON and errors). What other modules
use is re-exported here.
"""

from checkstand.processors.stripe.adapter import (
    DEFAULT_TIMEOUT_SECONDS,
    NETWORK_RETRIES,
    StripeProcessor,
    intent_params,
    result_of,
)
from checkstand.processors.stripe.cards import saved_card_of
from checkstand.processors.stripe.refunds import STRIPE_REFUND_REASONS, refund_params, refund_result_of
from checkstand.processors.stripe.setups import SETUP_INTENT_PREFIX, setup_result_of
from checkstand.processors.stripe.transport import ClientSecretFilter, PublicOnlyHTTPClient
from checkstand.processors.stripe.webhooks import (
    MAX_EVENT_ID_LENGTH,
    MAX_EVENT_TYPE_LENGTH,
    PAYMENT_INTENT_EVENT_PREFIX,
    WEBHOOK_TOLERANCE,
    Delivery,
    InvalidSignature,
    Receipt,
    Settlement,
    StripeUnavailable,
    mark_processed,
    repeated_delivery,
    settle_delivery,
    settlement_for,
    store_delivery,
    verify_delivery,
    verify_event,
)
from checkstand.processors.stripe.wire import (
    MAX_MESSAGE_LENGTH,
    MAX_SCAN,
    METADATA_KEY,
    PAGE_SIZE,
    RECENT_SCAN,
    STRIPE_EXPONENTS,
    declined,
    describe,
    stripe_amount,
    unavailable,
)

__all__ = [
    "DEFAULT_TIMEOUT_SECONDS",
    "MAX_EVENT_ID_LENGTH",
    "MAX_EVENT_TYPE_LENGTH",
    "MAX_MESSAGE_LENGTH",
    "MAX_SCAN",
    "METADATA_KEY",
    "NETWORK_RETRIES",
    "PAGE_SIZE",
    "PAYMENT_INTENT_EVENT_PREFIX",
    "RECENT_SCAN",
    "SETUP_INTENT_PREFIX",
    "STRIPE_EXPONENTS",
    "STRIPE_REFUND_REASONS",
    "WEBHOOK_TOLERANCE",
    "ClientSecretFilter",
    "Delivery",
    "InvalidSignature",
    "PublicOnlyHTTPClient",
    "Receipt",
    "Settlement",
    "StripeProcessor",
    "StripeUnavailable",
    "declined",
    "describe",
    "intent_params",
    "mark_processed",
    "refund_params",
    "refund_result_of",
    "repeated_delivery",
    "result_of",
    "saved_card_of",
    "settle_delivery",
    "settlement_for",
    "setup_result_of",
    "store_delivery",
    "stripe_amount",
    "unavailable",
    "verify_delivery",
    "verify_event",
]
