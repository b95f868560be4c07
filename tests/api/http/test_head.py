"""HEAD is answered wherever GET is: the same status and headers, no body."""

from __future__ import annotations

import httpx

from checkstand.checkout.models import CheckoutSession


async def test_head_on_a_page_has_the_get_headers_and_no_body(
    client: httpx.AsyncClient, opened: CheckoutSession
) -> None:
    path = f"/c/{opened.secure_token}"
    got = await client.get(path)
    head = await client.head(path)
    assert (got.status_code, head.status_code) == (200, 200)
    assert head.content == b""
    assert head.headers["content-length"] == got.headers["content-length"]
    for name in ("content-type", "content-security-policy", "cache-control", "x-frame-options"):
        assert head.headers[name] == got.headers[name]


async def test_head_answers_as_get_does_elsewhere(client: httpx.AsyncClient) -> None:
    unknown = await client.head("/c/no-such-token")
    assert unknown.status_code == 404
    assert unknown.content == b""
    assert (await client.head("/healthz")).status_code == 200
    assert (await client.head("/static/checkout.css")).status_code == 200
    # A path that takes no GET still refuses HEAD.
    assert (await client.head("/api/public/checkout/x/confirm")).status_code == 405
