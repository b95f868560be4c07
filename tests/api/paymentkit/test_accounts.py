"""Accounts, keys and tenancy through the PaymentKit dialect, in process."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.accounts import service as accounts
from tests.conftest import bearer


async def test_key_reads_its_own_account(client: httpx.AsyncClient, merchant: tuple[str, str]) -> None:
    account_id, secret = merchant
    response = await client.get(f"/api/accounts/{account_id}", headers=bearer(secret))
    assert response.status_code == 200
    assert response.json()["id"] == account_id
    assert response.headers["x-request-id"].startswith("req_")
    listed = await client.get("/api/accounts/", headers=bearer(secret))
    assert [a["id"] for a in listed.json()] == [account_id]


async def test_missing_and_unknown_keys_are_401(client: httpx.AsyncClient, merchant: tuple[str, str]) -> None:
    account_id, _ = merchant
    missing = await client.get(f"/api/accounts/{account_id}")
    assert missing.status_code == 401
    assert missing.json()["code"] == "not_authenticated"
    assert missing.json()["request_id"] == missing.headers["x-request-id"]
    unknown = await client.get(f"/api/accounts/{account_id}", headers=bearer("sk_not_a_real_key"))
    assert unknown.status_code == 401
    assert unknown.json()["code"] == "invalid_api_key"
    assert "sk_not_a_real_key" not in unknown.text


async def test_publishable_key_is_403(client: httpx.AsyncClient, merchant: tuple[str, str]) -> None:
    account_id, secret = merchant
    created = await client.post(f"/api/accounts/{account_id}/api-keys", json={}, headers=bearer(secret))
    publishable = created.json()["publishable_token"]
    response = await client.get(f"/api/accounts/{account_id}", headers=bearer(publishable))
    assert response.status_code == 403
    assert response.json()["code"] == "publishable_key_not_allowed"


async def test_other_accounts_are_404_and_never_leak(client: httpx.AsyncClient, session: AsyncSession) -> None:
    first = await accounts.create_account(session, name="First")
    first_key = await accounts.create_api_key(session, first)
    second = await accounts.create_account(session, name="Second Secret Name")
    second_key = await accounts.create_api_key(session, second)
    await session.commit()

    for path in (f"/api/accounts/{second.id}", f"/api/accounts/{second.id}/brand-settings"):
        response = await client.get(path, headers=bearer(first_key.secret))
        assert response.status_code == 404
        assert response.json()["code"] == "account_not_found"
        assert "Second Secret Name" not in response.text
    keys = await client.get(f"/api/accounts/{second.id}/api-keys", headers=bearer(first_key.secret))
    assert keys.status_code == 404
    own = await client.get(f"/api/accounts/{second.id}/api-keys", headers=bearer(second_key.secret))
    assert own.status_code == 200
    assert [k["id"] for k in own.json()] == [second_key.key.id]


async def test_secret_is_shown_once_and_revocation_is_immediate(
    client: httpx.AsyncClient, merchant: tuple[str, str]
) -> None:
    account_id, secret = merchant
    created = await client.post(
        f"/api/accounts/{account_id}/api-keys", json={"description": "ci"}, headers=bearer(secret)
    )
    assert created.status_code == 201
    new_secret = created.json()["secret_token"]
    assert new_secret.startswith("sk_")
    assert len(new_secret) >= 3 + 43  # 256 bits, url-safe base64
    listed = await client.get(f"/api/accounts/{account_id}/api-keys", headers=bearer(new_secret))
    assert new_secret not in listed.text
    assert {k["secret_token_preview"] for k in listed.json()} >= {new_secret[:12]}

    revoked = await client.delete(f"/api/accounts/{account_id}/api-keys/{created.json()['id']}", headers=bearer(secret))
    assert revoked.status_code == 200
    assert revoked.json()["is_active"] is False
    after = await client.get(f"/api/accounts/{account_id}", headers=bearer(new_secret))
    assert after.status_code == 401
    again = await client.delete(f"/api/accounts/{account_id}/api-keys/{created.json()['id']}", headers=bearer(secret))
    assert again.status_code == 409
    assert again.json()["code"] == "api_key_revoked"


async def test_brand_settings_validate_fields(client: httpx.AsyncClient, merchant: tuple[str, str]) -> None:
    account_id, secret = merchant
    bad = await client.patch(
        f"/api/accounts/{account_id}/brand-settings",
        json={"accent_color": "red", "logo": "javascript:alert(1)"},
        headers=bearer(secret),
    )
    assert bad.status_code == 422
    locs = {tuple(problem["loc"]) for problem in bad.json()["detail"]}
    assert locs == {("body", "accent_color"), ("body", "logo")}
    unchanged = await client.get(f"/api/accounts/{account_id}/brand-settings", headers=bearer(secret))
    assert unchanged.json()["accent_color"] is None

    good = await client.patch(
        f"/api/accounts/{account_id}/brand-settings",
        json={"name": "Acme", "accent_color": "#112233"},
        headers=bearer(secret),
    )
    assert good.status_code == 200
    assert good.json()["brand_settings"]["accent_color"] == "#112233"
    account = await client.get(f"/api/accounts/{account_id}", headers=bearer(secret))
    assert account.json()["brand_settings"]["name"] == "Acme"


async def test_unknown_route_and_wrong_method_have_distinct_codes(
    client: httpx.AsyncClient, merchant: tuple[str, str]
) -> None:
    _, secret = merchant
    unknown = await client.get("/api/nothing-here", headers=bearer(secret))
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "not_found"
    wrong = await client.put("/healthz")
    assert wrong.status_code == 405
    assert wrong.json()["code"] == "method_not_allowed"


async def test_healthz_and_openapi(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    spec = (await client.get("/openapi.json")).json()
    assert "/api/accounts/{account_id}" in spec["paths"]
    assert (await client.get("/docs")).status_code == 200
