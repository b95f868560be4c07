"""``Idempotency-Key``: replay, mismatch, expiry, stale locks, and truly concurrent duplicates."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.accounts.models import ApiKey
from checkstand.api.http import idempotency
from checkstand.api.http.idempotency import IdempotencyRecord
from checkstand.core.clock import FrozenClock
from tests.conftest import bearer
from tests.support import Server


async def _key_count(session: AsyncSession, account_id: str) -> int:
    return int(await session.scalar(select(func.count()).select_from(ApiKey).where(ApiKey.account_id == account_id)))


async def test_same_key_same_body_replays_the_first_response(
    client: httpx.AsyncClient, merchant: tuple[str, str], session: AsyncSession
) -> None:
    account_id, secret = merchant
    headers = {**bearer(secret), "Idempotency-Key": "create-key-1"}
    path = f"/api/accounts/{account_id}/api-keys"
    first = await client.post(path, json={"description": "once"}, headers=headers)
    second = await client.post(path, content=b'{ "description" : "once" }', headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert await _key_count(session, account_id) == 2  # the merchant's own key and exactly one more


async def test_same_key_other_body_is_refused(client: httpx.AsyncClient, merchant: tuple[str, str]) -> None:
    account_id, secret = merchant
    headers = {**bearer(secret), "Idempotency-Key": "k"}
    path = f"/api/accounts/{account_id}/api-keys"
    assert (await client.post(path, json={"description": "a"}, headers=headers)).status_code == 201
    reused = await client.post(path, json={"description": "b"}, headers=headers)
    assert reused.status_code == 422
    assert reused.json()["code"] == "idempotency_key_reused"


async def test_keys_are_scoped_to_the_account(
    client: httpx.AsyncClient, merchant: tuple[str, str], session: AsyncSession
) -> None:
    from checkstand.accounts import service as accounts

    other = await accounts.create_account(session, name="Other")
    other_key = await accounts.create_api_key(session, other)
    await session.commit()
    account_id, secret = merchant
    for acct, key in ((account_id, secret), (other.id, other_key.secret)):
        response = await client.post(
            f"/api/accounts/{acct}/api-keys", json={}, headers={**bearer(key), "Idempotency-Key": "shared"}
        )
        assert response.status_code == 201
        assert "idempotent-replayed" not in response.headers


async def test_a_refused_request_is_replayed_as_refused_and_changed_nothing(
    client: httpx.AsyncClient, merchant: tuple[str, str], session: AsyncSession
) -> None:
    account_id, secret = merchant
    headers = {**bearer(secret), "Idempotency-Key": "bad-1"}
    path = f"/api/accounts/{account_id}/api-keys"
    first = await client.post(path, json={"description": "x" * 201}, headers=headers)
    second = await client.post(path, json={"description": "x" * 201}, headers=headers)
    assert first.status_code == second.status_code == 422
    assert second.headers["idempotent-replayed"] == "true"
    assert await _key_count(session, account_id) == 1


async def test_overlong_key_is_a_field_error(client: httpx.AsyncClient, merchant: tuple[str, str]) -> None:
    account_id, secret = merchant
    response = await client.post(
        f"/api/accounts/{account_id}/api-keys",
        json={},
        headers={**bearer(secret), "Idempotency-Key": "k" * 256},
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]


async def test_keys_expire_after_their_time_to_live(
    client: httpx.AsyncClient, merchant: tuple[str, str], session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    account_id, secret = merchant
    headers = {**bearer(secret), "Idempotency-Key": "daily"}
    path = f"/api/accounts/{account_id}/api-keys"
    first = await client.post(path, json={}, headers=headers)
    frozen_clock.advance(timedelta(hours=23, minutes=59))
    assert (await client.post(path, json={}, headers=headers)).json()["id"] == first.json()["id"]
    frozen_clock.advance(timedelta(minutes=2))
    fresh = await client.post(path, json={}, headers=headers)
    assert fresh.status_code == 201
    assert fresh.json()["id"] != first.json()["id"]
    assert await _key_count(session, account_id) == 3


async def test_worker_purges_expired_keys(
    client: httpx.AsyncClient, merchant: tuple[str, str], session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    account_id, secret = merchant
    await client.post(
        f"/api/accounts/{account_id}/api-keys", json={}, headers={**bearer(secret), "Idempotency-Key": "old"}
    )
    assert await idempotency.purge_expired(session) == 0
    frozen_clock.advance(timedelta(hours=25))
    assert await idempotency.purge_expired(session) == 1
    await session.commit()
    assert await session.scalar(select(func.count()).select_from(IdempotencyRecord)) == 0


async def test_a_stale_in_progress_claim_can_be_taken_over(
    client: httpx.AsyncClient, merchant: tuple[str, str], session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    """A request whose process died mid-way leaves its claim in progress: 409 until its lock goes stale."""
    account_id, secret = merchant
    headers = {**bearer(secret), "Idempotency-Key": "crashed"}
    path = f"/api/accounts/{account_id}/api-keys"
    await client.post(path, json={}, headers=headers)
    record = await session.get(IdempotencyRecord, (account_id, "crashed"))
    assert record is not None
    record.state = idempotency.IN_PROGRESS
    await session.commit()
    busy = await client.post(path, json={}, headers=headers)
    assert busy.status_code == 409
    assert busy.json()["code"] == "idempotency_key_in_use"
    frozen_clock.advance(timedelta(seconds=61))
    assert (await client.post(path, json={}, headers=headers)).status_code == 201


def test_concurrent_duplicates_have_one_effect(server: Server) -> None:
    """Sixteen threads send the same keyed request at the same moment to a real server: exactly one key is made,
    the others get 409 (still in progress) or the replay of that one response."""
    account_id, secret = server.new_account()
    headers = {**bearer(secret), "Idempotency-Key": "race"}
    url = f"{server.base_url}/api/accounts/{account_id}/api-keys"
    barrier = threading.Barrier(16)

    def send(_: int) -> httpx.Response:
        with httpx.Client(timeout=30) as http:
            barrier.wait()
            return http.post(url, json={"description": "race"}, headers=headers)

    with ThreadPoolExecutor(max_workers=16) as pool:
        responses = list(pool.map(send, range(16)))

    created = {r.json()["id"] for r in responses if r.status_code == 201}
    assert len(created) == 1
    assert {r.status_code for r in responses} <= {201, 409}
    listed = httpx.get(f"{server.base_url}/api/accounts/{account_id}/api-keys", headers=bearer(secret)).json()
    assert len(listed) == 2
