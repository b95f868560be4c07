"""Where webhook deliveries may go: public addresses only, unless the operator allows private ones
(``CHECKSTAND_WEBHOOK_ALLOW_PRIVATE_URLS``, for tests and local development). A Stripe connection's ``api_base``
goes through the same checks under its own setting (``allow_setting``, named in every refusal).

An endpoint's URL is checked when it is stored (:func:`url_refusal`: an address literal, or ``localhost``), and
again on every delivery after its name is resolved, by the connection itself: :class:`PublicOnlyBackend` resolves
the host, refuses the connection if any address it resolves to is not public (:mod:`checkstand.core.network`), and
connects to an address it checked. There is no second resolution an attacker's DNS could answer differently
(rebinding), while TLS still verifies, and SNI and ``Host`` still name, the URL's host. Such a delivery fails
like a connection error (:class:`EgressRefused`), with the reason as its error. With the check on, deliveries
ignore any HTTP proxy set in the environment: a proxy would resolve the name itself, out of reach of the check.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from collections.abc import Iterable
from typing import Final

import anyio
import httpcore
import httpx

from checkstand.core.network import IPAddress, is_local_name, refusal
from checkstand.core.urls import WebUrl

ALLOW_SETTING: Final = "CHECKSTAND_WEBHOOK_ALLOW_PRIVATE_URLS=true"


def url_refusal(url: WebUrl, allow_setting: str = ALLOW_SETTING) -> str | None:
    """Why requests to ``url`` are refused whatever its name resolves to, or ``None`` (checked at connection)."""
    if url.ip is not None:
        reason = refusal(url.ip)
        return None if reason is None else f"must not be {reason} (the operator may allow it: {allow_setting})"
    if is_local_name(url.host):
        return f"must not be on this machine (the operator may allow it: {allow_setting})"
    return None


class EgressRefused(httpcore.ConnectError):
    """A connection the address check refused, before any packet left: a policy, not a network failure, so a
    caller that retries connection errors may tell it apart (trying again reaches the same refusal)."""


class PublicOnlyBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, connecting only to public addresses, and to the very address it checked."""

    def __init__(
        self, inner: httpcore.AsyncNetworkBackend | None = None, *, allow_setting: str = ALLOW_SETTING
    ) -> None:
        self.inner = inner or httpcore.AnyIOBackend()
        self.allow_setting = allow_setting

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        if is_local_name(host):
            raise EgressRefused(f"refused: {host} is this machine ({self.allow_setting} allows it)")
        with anyio.fail_after(timeout):
            addresses = await _resolve(host, port)
        for address in addresses:
            reason = refusal(address)
            if reason is not None:
                raise EgressRefused(f"refused: {host} resolves to {address}, {reason} ({self.allow_setting} allows it)")
        failure: httpcore.ConnectError | None = None
        for address in addresses:
            try:
                return await self.inner.connect_tcp(str(address), port, timeout, local_address, socket_options)
            except httpcore.ConnectError as error:
                failure = error
        raise failure or httpcore.ConnectError(f"{host} resolves to no address")

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise EgressRefused("refused: never to a Unix socket")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


async def _resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to, in the resolver's order, each once."""
    try:
        found = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as error:
        raise httpcore.ConnectError(f"can't resolve {host}: {error}") from error
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in found:
        address = ipaddress.ip_address(str(sockaddr[0]).partition("%")[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


class PublicOnlyTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport over :class:`PublicOnlyBackend` (its pool keyed, and its TLS verified, by host name).
    ``ssl_context`` is for a client that trusts its own CA bundle (Stripe's library pins Stripe's)."""

    def __init__(
        self,
        limits: httpx.Limits,
        *,
        allow_setting: str = ALLOW_SETTING,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(limits=limits)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context or httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=PublicOnlyBackend(allow_setting=allow_setting),
        )


def delivery_client(*, timeout: float, limits: httpx.Limits, allow_private: bool) -> httpx.AsyncClient:
    """The client a worker delivers with: redirects are never followed (a 3xx is the receiver's answer)."""
    transport = None if allow_private else PublicOnlyTransport(limits)
    return httpx.AsyncClient(timeout=timeout, limits=limits, follow_redirects=False, transport=transport)
