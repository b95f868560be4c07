"""Checked web URLs: stored normalised (IDNA 2008 hosts, percent-encoded non-ASCII), refused with a reason when a
header or a Content-Security-Policy can't carry them, and never an exception other than the refusal."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checkstand.core.urls import WEB_URL_PATTERN, UrlProblem, origin_of, parse_web_url

HEADER_BREAKERS = frozenset(";,'\"<>\\^`| \t\r\n\x00\x7f")


@pytest.mark.parametrize(
    ("url", "stored", "origin"),
    [
        ("https://\u0430pple.com/", "https://xn--pple-43d.com/", "https://xn--pple-43d.com"),
        (
            "HTTPS://Shop.Example:8443/ok?s={CHECKOUT_SESSION_ID}",
            "https://shop.example:8443/ok?s={CHECKOUT_SESSION_ID}",
            "https://shop.example:8443",
        ),
        (
            "https://\uff45xample.com./p\u00e4th?q=\u00fc#f",
            "https://example.com/p%C3%A4th?q=%C3%BC#f",
            "https://example.com",
        ),
        ("http://[::1]:8080/x", "http://[::1]:8080/x", "http://[::1]:8080"),
        ("http://127.0.0.1/in", "http://127.0.0.1/in", "http://127.0.0.1"),
    ],
)
def test_urls_are_stored_normalised(url: str, stored: str, origin: str) -> None:
    parsed = parse_web_url(url)

    assert (parsed.text, parsed.origin) == (stored, origin)


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("https://shop.example; script-src 'unsafe-inline' *; x/ok", "url_characters"),
        ("https://shop.example;script-src/", "url_host"),
        ("https://shop.example/a,b", "url_characters"),
        ("javascript:alert(1)", "url_scheme"),
        ("//shop.example/", "url_scheme"),
        ("https://user:pw@shop.example/", "url_credentials"),
        ("https://shop.example:99999/", "url_invalid"),
        ("http://[fe80::1%25eth0]/", "url_host"),
        ("http://0x7f.1/", "url_invalid"),
        ("https://a..b/", "url_host"),
        ("https://\u2488.example/", "url_host"),  # a character IDNA 2008 disallows
    ],
)
def test_what_cannot_be_carried_is_refused_with_a_reason(url: str, kind: str) -> None:
    with pytest.raises(UrlProblem) as refused:
        parse_web_url(url)

    assert refused.value.type == kind
    assert origin_of(url) is None


@given(st.text(max_size=60) | st.builds(lambda rest: f"https://{rest}", st.text(max_size=40)))
def test_any_text_is_refused_or_stored_as_a_header_can_carry_it(url: str) -> None:
    try:
        parsed = parse_web_url(url)
    except UrlProblem:
        return
    assert parsed.text.isascii()
    assert not HEADER_BREAKERS & set(parsed.text)
    assert not HEADER_BREAKERS & set(parsed.origin)
    assert parse_web_url(parsed.text) == parsed
    assert origin_of(parsed.text) == parsed.origin


@settings(max_examples=300)
@given(st.from_regex(WEB_URL_PATTERN, fullmatch=True))
def test_every_url_the_documented_pattern_matches_is_taken(url: str) -> None:
    """The API reference documents URL fields with this pattern: a URL it calls valid is never refused."""
    # Stored as sent, but for the scheme's and the host's case.
    assert parse_web_url(url).text.lower() == url.lower()


@pytest.mark.parametrize("url", ["http://a.1", "https://shop.example/a;b", "ftp://shop.example/", "http://[::1]/"])
def test_the_documented_pattern_leaves_out_what_it_cannot_promise(url: str) -> None:
    assert not re.fullmatch(WEB_URL_PATTERN, url)
