"""NUL characters are refused at the edge on both backends (PostgreSQL text can't hold them)."""

from __future__ import annotations

import httpx

from tests.conftest import bearer


async def test_nul_in_body_path_or_query_is_a_422(client: httpx.AsyncClient, merchant: tuple[str, str]) -> None:
    account_id, secret = merchant
    body = await client.post(
        f"/api/accounts/{account_id}/api-keys", json={"description": "a\x00b"}, headers=bearer(secret)
    )
    assert body.status_code == 422
    assert body.json()["detail"][0]["loc"] == ["body"]
    assert "description" in body.json()["detail"][0]["msg"]
    path = await client.get(f"/api/accounts/{account_id}%00", headers=bearer(secret))
    assert path.status_code == 422
    assert path.json()["detail"][0]["loc"] == ["path"]
    query = await client.get(f"/api/{account_id}/customers/", params={"search": "x\x00"}, headers=bearer(secret))
    assert query.status_code == 422
    assert query.json()["detail"][0]["loc"] == ["query"]
