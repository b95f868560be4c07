"""Which network addresses a request Checkstand makes for a merchant (a webhook) may reach.

Only public unicast addresses: never this machine (loopback), its neighbours (private, unique-local, shared
address space), link-local or reserved ranges (where cloud metadata services answer: 169.254.169.254,
fd00:ec2::254, 192.0.0.192), multicast or unspecified addresses. An IPv4 address inside IPv6 (mapped, or
NAT64's 64:ff9b::/96) is judged as the IPv4 address it reaches.
"""

from __future__ import annotations

import ipaddress
from typing import Final

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAT64: Final = ipaddress.IPv6Network("64:ff9b::/96")
# IETF protocol assignments, which Python counts as global: Oracle Cloud's metadata service is 192.0.0.192.
_PROTOCOL_ASSIGNMENTS: Final = ipaddress.IPv4Network("192.0.0.0/24")
# Names that resolve to this machine by definition (RFC 6761), whatever a resolver says.
LOCAL_NAMES: Final = ("localhost",)


def refusal(address: IPAddress) -> str | None:
    """Why ``address`` may not be reached, as a phrase ("a loopback address"), or ``None`` for a public one."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return refusal(address.ipv4_mapped)
        if address in _NAT64:
            return refusal(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    for is_kind, phrase in (
        (address.is_loopback, "a loopback address"),
        (address.is_link_local, "a link-local address (where cloud metadata services answer)"),
        (address.is_multicast, "a multicast address"),
        (address.is_unspecified, "the unspecified address"),
        (address.is_private, "a private address"),
    ):
        if is_kind:
            return phrase
    if not address.is_global or address in _PROTOCOL_ASSIGNMENTS:
        return "a reserved address"
    return None


def is_local_name(host: str) -> bool:
    """``localhost`` and its subdomains: loopback without asking any resolver."""
    name = host.lower().rstrip(".")
    return any(name == local or name.endswith(f".{local}") for local in LOCAL_NAMES)
