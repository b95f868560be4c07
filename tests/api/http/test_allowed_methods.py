"""A 405 names every method of its path in ``Allow`` (RFC 9110), not only those of the route that answered."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from checkstand.app import create_app
from checkstand.settings import Settings


@pytest.fixture
async def routing(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The app without a database: a 405 is decided by routing alone."""
    app = create_app(Settings(data_dir=tmp_path, secret_key="k" * 40))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://checkstand.test") as http:
        yield http


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/api/acct_x/prices/", "GET, HEAD, POST"),
        ("DELETE", "/api/acct_x/prices/price_x", "GET, HEAD, PATCH"),
        ("PUT", "/api/accounts/", "GET, HEAD"),
        ("DELETE", "/c/cst_x", "GET, HEAD, POST"),
        ("GET", "/api/public/checkout/cst_x/confirm", "POST"),
        ("POST", "/static/checkout.css", "GET, HEAD"),
    ],
)
async def test_a_405_names_every_method_of_the_path(
    routing: httpx.AsyncClient, method: str, path: str, allowed: str
) -> None:
    refused = await routing.request(method, path)

    assert refused.status_code == 405
    assert refused.headers["allow"] == allowed
    assert refused.json()["code"] == "method_not_allowed"
