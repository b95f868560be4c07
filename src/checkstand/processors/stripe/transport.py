"""How requests reach Stripe and what Stripe's library logs of them: public addresses over https only, and no client
secret in a log line.

Every request goes to a public address over https only (:class:`PublicOnlyHTTPClient`), unless the operator allows
otherwise (``CHECKSTAND_PROCESSOR_ALLOW_PRIVATE_URLS``: localstripe on loopback): a merchant's ``api_base`` must not
reach this machine or its network, whatever its name resolves to. A refused request is ``unavailable`` (or
:class:`~checkstand.processors.base.OutcomeUnknown`) like an unreachable Stripe, and nothing was sent.

Stripe's library logs no headers (so never the secret key), but it does log whole response bodies at debug level,
client secrets included, so its logger redacts them (:class:`ClientSecretFilter`)."""

from __future__ import annotations

import logging
import re
import ssl
from collections.abc import Mapping
from typing import Any, Final, NoReturn
from urllib.parse import urlsplit

import httpx
import stripe

from checkstand.processors.connections import ALLOW_PRIVATE_SETTING
from checkstand.processors.stripe.wire import REDACTED
from checkstand.webhooks.egress import EgressRefused, PublicOnlyTransport

# httpx's default pool, which Stripe's library's own client has.
_POOL_LIMITS: Final = httpx.Limits(max_connections=100, max_keepalive_connections=20)
# A PaymentIntent's or SetupIntent's client secret, wherever it shows up in text.
_CLIENT_SECRET: Final = re.compile(r"\b(?:pi|seti)_[0-9A-Za-z]+_secret_[0-9A-Za-z]+")


class ClientSecretFilter(logging.Filter):
    """Redacts client secrets from the records of Stripe's library, which logs response bodies at debug level."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if _CLIENT_SECRET.search(message):
            record.msg, record.args = _CLIENT_SECRET.sub(REDACTED, message), None
        return True


logging.getLogger("stripe").addFilter(ClientSecretFilter())


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
