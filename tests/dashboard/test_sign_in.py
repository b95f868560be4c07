"""Signing in and out of the dashboard, and what it refuses: wrong credentials alike, guessing, fixation, open
redirects, forms without their CSRF token, a signed-out browser."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.dashboard import signin, users
from checkstand.dashboard.web import PRE_SESSION_COOKIE, SESSION_COOKIE
from tests.dashboard.helpers import PASSWORD, csrf_of, make_user, page_csrf, sign_in


def _set_cookie(response: httpx.Response, name: str) -> str:
    return next(value for value in response.headers.get_list("set-cookie") if value.startswith(f"{name}="))


async def test_sign_in_sets_a_guarded_cookie_and_sign_out_ends_the_session(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    signed = await sign_in(client, user.email.upper())  # emails are matched whatever their case
    assert signed.status_code == 303
    assert signed.headers["location"] == "/dashboard/"
    cookie = _set_cookie(signed, SESSION_COOKIE).lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert "secure" not in cookie  # the public URL is http here
    token = client.cookies[SESSION_COOKIE]
    home = await client.get("/dashboard/")
    assert home.status_code == 200
    assert user.email in home.text
    assert home.headers["content-security-policy"].startswith("default-src 'none'")

    out = await client.post("/dashboard/sign-out", data={"csrf_token": csrf_of(home.text)})
    assert out.status_code == 303
    assert out.headers["location"] == "/dashboard/sign-in"
    # The old token is dead on the server, not only forgotten by this browser.
    client.cookies.set(SESSION_COOKIE, token, domain="checkstand.test", path="/dashboard")
    again = await client.get("/dashboard/")
    assert again.status_code == 303
    assert again.headers["location"] == "/dashboard/sign-in"


async def test_the_cookie_is_secure_when_the_public_url_is_https(settings, database, session: AsyncSession) -> None:  # type: ignore[no-untyped-def]
    from checkstand.app import create_app

    user = await make_user(session)
    app = create_app(settings.model_copy(update={"public_url": "https://pay.shop.example"}), database=database)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://pay.shop.example") as http:
        signed = await sign_in(http, user.email)
    assert signed.status_code == 303
    assert "secure" in _set_cookie(signed, SESSION_COOKIE).lower()


async def test_wrong_password_and_unknown_email_get_the_same_answer(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    wrong = await sign_in(client, user.email, "not the password at all")
    unknown = await sign_in(client, "nobody@shop.example", "not the password at all")
    assert wrong.status_code == unknown.status_code == 401
    assert SESSION_COOKIE not in client.cookies
    assert wrong.text.replace(user.email, "EMAIL") == unknown.text.replace("nobody@shop.example", "EMAIL")


async def test_failed_sign_ins_are_throttled_per_email(client: httpx.AsyncClient, session: AsyncSession) -> None:
    user = await make_user(session)
    for _ in range(signin.MAX_FAILURES_PER_EMAIL):
        assert (await sign_in(client, user.email, "wrong password!!")).status_code == 401
    # Even the right password is refused now, with the same words for any email.
    throttled = await sign_in(client, user.email)
    assert throttled.status_code == 429
    assert "Too many failed sign-ins" in throttled.text
    assert SESSION_COOKIE not in client.cookies


async def test_failed_sign_ins_are_throttled_per_address(client: httpx.AsyncClient, session: AsyncSession) -> None:
    user = await make_user(session)
    for number in range(signin.MAX_FAILURES_PER_IP):
        assert (await sign_in(client, f"guess{number}@shop.example", "wrong password!!")).status_code == 401
    assert (await sign_in(client, user.email)).status_code == 429


async def test_sign_in_issues_a_new_session_id(client: httpx.AsyncClient, session: AsyncSession) -> None:
    """A token planted before sign-in is never promoted, and the browser's previous session ends at sign-in."""
    user = await make_user(session)
    client.cookies.set(SESSION_COOKIE, "dss_planted-by-an-attacker", domain="checkstand.test", path="/dashboard")
    first = await sign_in(client, user.email)
    assert first.status_code == 303
    first_token = client.cookies[SESSION_COOKIE]
    assert first_token != "dss_planted-by-an-attacker"
    second = await sign_in(client, user.email)
    assert second.status_code == 303
    assert client.cookies[SESSION_COOKIE] != first_token
    async with httpx.AsyncClient(transport=client._transport, base_url=str(client.base_url)) as other:
        other.cookies.set(SESSION_COOKIE, first_token, domain="checkstand.test", path="/dashboard")
        assert (await other.get("/dashboard/")).status_code == 303


@pytest.mark.parametrize(
    "next_path",
    [
        "//evil.example/",
        "https://evil.example/dashboard/",
        "/\\evil.example",
        "/dashboard//evil.example",
        "/dashboardx",
        "javascript:alert(1)",
        "/dashboard/\r\nSet-Cookie: x=y",
    ],
)
async def test_sign_in_never_redirects_off_the_dashboard(
    client: httpx.AsyncClient, session: AsyncSession, next_path: str
) -> None:
    user = await make_user(session)
    signed = await sign_in(client, user.email, next_path=next_path)
    assert signed.status_code == 303
    assert signed.headers["location"] == "/dashboard/"


async def test_a_signed_out_request_is_sent_to_sign_in_and_back(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    for path in (
        "/dashboard/",
        "/dashboard/checkout-sessions",
        "/dashboard/checkout-sessions/new",
        "/dashboard/checkout-sessions/cs_x",
    ):
        response = await client.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/dashboard/sign-in"), path
    asked = await client.get("/dashboard/checkout-sessions?state=open")
    assert asked.headers["location"] == "/dashboard/sign-in?next=%2Fdashboard%2Fcheckout-sessions%3Fstate%3Dopen"
    signed = await sign_in(client, user.email, next_path="/dashboard/checkout-sessions?state=open")
    assert signed.headers["location"] == "/dashboard/checkout-sessions?state=open"


async def test_every_form_without_its_csrf_token_is_refused(client: httpx.AsyncClient, session: AsyncSession) -> None:
    user = await make_user(session)
    # Signed out: the sign-in and sign-in-link forms.
    await client.get("/dashboard/sign-in")
    assert PRE_SESSION_COOKIE in client.cookies
    for form in (
        {"email": user.email, "password": PASSWORD},
        {"email": user.email, "password": PASSWORD, "csrf_token": "forged"},
    ):
        refused = await client.post("/dashboard/sign-in", data=form)
        assert refused.status_code == 403
    assert SESSION_COOKIE not in client.cookies
    assert (await client.post("/dashboard/sign-in/link", data={"token": "dsl_x"})).status_code == 403

    assert (await sign_in(client, user.email)).status_code == 303
    create = {"success_url": "https://shop.example/ok", "return_url": "https://shop.example/back"}
    for path, data in (("/dashboard/sign-out", {}), ("/dashboard/checkout-sessions/new", create)):
        assert (await client.post(path, data=data)).status_code == 403, path
        assert (await client.post(path, data={**data, "csrf_token": "forged"})).status_code == 403, path
    # Still signed in: the refused sign-out did nothing.
    assert (await client.get("/dashboard/")).status_code == 200


async def test_a_sign_in_link_works_once(client: httpx.AsyncClient, session: AsyncSession) -> None:
    user = await make_user(session)
    found = await users.find_user(session, user.email)
    assert found is not None
    link = await users.issue_sign_in_link(session, found)
    await session.commit()
    page = await client.get(f"/dashboard/sign-in/link/{link.token}")
    assert page.status_code == 200
    assert SESSION_COOKIE not in client.cookies  # opening the link signs no one in: the button does
    form = {"csrf_token": csrf_of(page.text), "token": link.token}
    signed = await client.post("/dashboard/sign-in/link", data=form)
    assert signed.status_code == 303
    assert (await client.get("/dashboard/")).status_code == 200
    client.cookies.delete(SESSION_COOKIE)
    again = await client.post(
        "/dashboard/sign-in/link", data={**form, "csrf_token": await page_csrf(client, "/dashboard/sign-in")}
    )
    assert again.status_code == 400
    assert SESSION_COOKIE not in client.cookies
