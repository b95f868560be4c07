"""Signing in to the dashboard as a browser does: the form's CSRF token, then the post."""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.accounts import service as accounts
from checkstand.dashboard import users

PASSWORD = "correct horse battery staple"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass(frozen=True)
class DashboardUser:
    account_id: str
    email: str
    secret: str  # the account's API key


async def make_user(session: AsyncSession, email: str = "owner@shop.example", name: str = "Shop") -> DashboardUser:
    account = await accounts.create_account(session, name=name)
    issued = await accounts.create_api_key(session, account)
    await users.create_user(session, account.id, email=email, password=PASSWORD)
    await session.commit()
    return DashboardUser(account.id, email, issued.secret)


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found is not None, "no CSRF token in the page"
    return found.group(1)


async def sign_in(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD, *, next_path: str | None = None
) -> httpx.Response:
    form = await client.get("/dashboard/sign-in")
    data = {"csrf_token": csrf_of(form.text), "email": email, "password": password}
    if next_path is not None:
        data["next"] = next_path
    return await client.post("/dashboard/sign-in", data=data)


async def page_csrf(client: httpx.AsyncClient, path: str = "/dashboard/") -> str:
    page = await client.get(path)
    assert page.status_code == 200, page.text
    return csrf_of(page.text)
