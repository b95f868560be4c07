"""``/docs`` and ``/redoc`` load every script, style and icon from Checkstand itself: they work with no network."""

from __future__ import annotations

import re

import httpx
import pytest

ASSET = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_use_same_origin_assets_only(client: httpx.AsyncClient, page: str) -> None:
    response = await client.get(page)
    assert response.status_code == 200
    html = response.text
    assets = ASSET.findall(html)
    assert assets, html
    for asset in assets:
        assert asset.startswith("/"), asset
        assert not asset.startswith("//"), asset
        assert (await client.get(asset)).status_code == 200, asset
    assert "://" not in html  # no absolute URL at all: nothing from another host
