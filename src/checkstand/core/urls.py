"""Web URLs a merchant gives and Checkstand later puts in a header: a redirect's ``Location``, a page's
Content-Security-Policy, a webhook request.

Checked once, when they are stored, and stored normalised: an internationalised host in its IDNA 2008 ASCII form
(``apple.com`` spelt with a Cyrillic a is stored as ``xn--pple-43d.com``, so a look-alike host shows as one), other
non-ASCII characters percent-encoded. What can't be normalised is refused, with a reason: control characters,
spaces, and the characters that end a header's or a policy's directive (``;``, ``,``, quotes); percent-encode
them (``%3B``, ``%2C``, ``%27``) where a URL needs them. A policy is built from :func:`origin_of` only, never from
a URL's text, and a stored value that no longer parses gives no origin rather than an error.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

import idna

SCHEMES: Final = ("http", "https")
MAX_HOST_LENGTH: Final = 253
# RFC 3986's characters less ``;``, ``,`` and ``'`` (they end a policy directive or a header's list item), plus the
# braces of ``{CHECKOUT_SESSION_ID}``. Anything else is refused, or percent-encoded when it is non-ASCII.
_URL_CHARACTERS: Final = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&()*+=%{}]*")
_ASCII_LABEL: Final = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)")
_NUMERIC_LABEL: Final = re.compile(r"[0-9]+|0[xX][0-9A-Fa-f]*")
_OCTET: Final = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
# What :func:`parse_web_url` takes, as far as a JSON Schema pattern (ECMA-262) can say it, for the API reference: a
# DNS name of at most 253 characters whose last label starts with a letter, or a dotted-decimal IPv4 address; a port
# without leading zeros; then the characters above. Every match is taken and stored as sent (tests/core/test_urls.py);
# an IPv6 or internationalised host is taken too, but left out.
WEB_URL_PATTERN: Final = (
    r"^https?://"
    r"(?:(?=[^/?#:]{1,253}(?:[/?#:]|$))(?:[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.)*"
    r"[A-Za-z](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
    rf"|{_OCTET}(?:\.{_OCTET}){{3}})"
    r"(?::[1-9][0-9]{0,3})?"
    r"(?:[/?#][A-Za-z0-9._~:/?#\[\]@!$&()*+=%{}-]*)?$"
)


class UrlProblem(ValueError):
    """Why a URL is refused; ``type`` is the machine code of the 422 that reports it."""

    def __init__(self, message: str, type: str = "url_invalid") -> None:
        super().__init__(message)
        self.message = message
        self.type = type


@dataclass(frozen=True)
class WebUrl:
    """A checked absolute http(s) URL: ``text`` is its normalised, ASCII-only form."""

    text: str
    scheme: str
    host: str
    port: int | None

    @property
    def origin(self) -> str:
        """``scheme://host[:port]``: all a policy ever holds of a URL."""
        return f"{self.scheme}://{self.netloc}"

    @property
    def netloc(self) -> str:
        return _netloc(self.host, self.port)

    @property
    def ip(self) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
        """The host when it is an address literal rather than a name."""
        try:
            return ipaddress.ip_address(self.host)
        except ValueError:
            return None


def parse_web_url(url: str) -> WebUrl:
    """The URL checked and normalised; raises :class:`UrlProblem` saying what is wrong with it."""
    if any(not char.isprintable() or char.isspace() for char in url):
        raise UrlProblem("must not contain spaces or control characters", "url_characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UrlProblem("is not a valid URL") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES or not parts.hostname:
        raise UrlProblem("must be an absolute http or https URL", "url_scheme")
    if parts.username is not None or parts.password is not None:
        raise UrlProblem("must not contain credentials", "url_credentials")
    host = _ascii_host(parts.hostname, bracketed=parts.netloc.rpartition("@")[2].startswith("["))
    rest = _percent_encode_non_ascii(url[len(parts.scheme) + 3 + len(parts.netloc) :])
    if not _URL_CHARACTERS.fullmatch(rest):
        raise UrlProblem(
            "must not contain ; , ' \" < > \\ ^ ` or | (percent-encode them where needed: ; is %3B, , is %2C)",
            "url_characters",
        )
    return WebUrl(text=f"{scheme}://{_netloc(host, port)}{rest}", scheme=scheme, host=host, port=port)


def origin_of(url: str) -> str | None:
    """The origin of a stored URL for a policy, or ``None`` when it doesn't parse (a value stored before these
    checks existed): the page then leaves it out rather than failing."""
    try:
        return parse_web_url(url).origin
    except UrlProblem:
        return None


def _netloc(host: str, port: int | None) -> str:
    bracketed = f"[{host}]" if ":" in host else host
    return bracketed if port is None else f"{bracketed}:{port}"


def _ascii_host(hostname: str, *, bracketed: bool) -> str:
    """The host in ASCII, lower-case: an address literal as written, a name in its IDNA 2008 form."""
    if bracketed:
        try:
            address = ipaddress.IPv6Address(hostname)
        except ValueError:
            raise UrlProblem("has an invalid IPv6 address", "url_host") from None
        if address.scope_id is not None:
            raise UrlProblem("must not name an IPv6 zone", "url_host")
        return str(address)
    if hostname.isascii():
        name = hostname.lower().rstrip(".")
    else:
        try:
            name = idna.encode(hostname.rstrip("."), uts46=True).decode("ascii")
        except idna.IDNAError:
            raise UrlProblem("has a host name that can't be written in IDNA 2008", "url_host") from None
    labels = name.split(".")
    if not name or len(name) > MAX_HOST_LENGTH or not all(_ASCII_LABEL.fullmatch(label) for label in labels):
        raise UrlProblem("has an invalid host name", "url_host")
    if _NUMERIC_LABEL.fullmatch(labels[-1]):
        # A name ending in a number is an IPv4 address to a browser and a resolver (``0x7f.1`` is 127.0.0.1).
        try:
            return str(ipaddress.IPv4Address(name))
        except ValueError:
            raise UrlProblem("has a host ending in a number that is not a dotted-decimal IPv4 address") from None
    return name


def _percent_encode_non_ascii(text: str) -> str:
    return "".join(char if char.isascii() else "".join(f"%{byte:02X}" for byte in char.encode()) for char in text)
