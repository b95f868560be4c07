"""API keys in the dashboard: a new key's secret shown in that one answer only, and a revoked key refused by the
API at once; no key of another account revoked."""

from __future__ import annotations

import re

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import bearer
from tests.dashboard.helpers import make_user, page_csrf, sign_in

KEYS = "/dashboard/api-keys"


async def test_create_shows_the_secret_once_and_revoking_locks_the_api_out(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    await sign_in(client, user.email)
    created = await client.post(KEYS, data={"csrf_token": await page_csrf(client, KEYS), "description": "CI"})
    assert created.status_code == 201
    found = re.search(r'id="secret-key" type="text" readonly value="(sk[^"]+)"', created.text)
    assert found is not None
    secret = found.group(1)
    key_id = re.search(r"Secret key of (key_\w+)", created.text)
    assert key_id is not None
    listing = await client.get(KEYS)
    assert secret not in listing.text
    assert secret[:12] in listing.text
    assert "CI" in listing.text

    customers = f"/api/{user.account_id}/customers/"
    assert (await client.get(customers, headers=bearer(secret))).status_code == 200
    no_csrf = await client.post(f"{KEYS}/{key_id.group(1)}/revoke", data={})
    assert no_csrf.status_code == 403
    assert (await client.get(customers, headers=bearer(secret))).status_code == 200
    revoked = await client.post(f"{KEYS}/{key_id.group(1)}/revoke", data={"csrf_token": await page_csrf(client, KEYS)})
    assert revoked.status_code == 303
    assert (await client.get(customers, headers=bearer(secret))).status_code == 401
    assert (await client.get(customers, headers=bearer(user.secret))).status_code == 200
    again = await client.post(f"{KEYS}/{key_id.group(1)}/revoke", data={"csrf_token": await page_csrf(client, KEYS)})
    assert again.status_code == 409


async def test_another_accounts_key_is_not_found(client: httpx.AsyncClient, session: AsyncSession) -> None:
    owner = await make_user(session, email="owner@a.example", name="A")
    other = await make_user(session, email="other@b.example", name="B")
    await sign_in(client, other.email)
    page = await client.get(KEYS)
    assert owner.secret[:12] not in page.text
    key_ids = re.findall(r"/dashboard/api-keys/(key_\w+)/revoke", page.text)
    assert len(key_ids) == 1
    await client.post("/dashboard/sign-out", data={"csrf_token": await page_csrf(client)})
    await sign_in(client, owner.email)
    refused = await client.post(f"{KEYS}/{key_ids[0]}/revoke", data={"csrf_token": await page_csrf(client, KEYS)})
    assert refused.status_code == 404
    customers = f"/api/{other.account_id}/customers/"
    assert (await client.get(customers, headers=bearer(other.secret))).status_code == 200
