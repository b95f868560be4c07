"""Signing in and out: with an email and password, or with a one-time link; each ends with a new session.

A failed sign-in says the same whether the email is unknown or the password wrong, and counts against both the email
and the client's address (:mod:`checkstand.dashboard.signin`). The sign-in forms carry a CSRF token too (an HMAC of
a pre-session cookie), so no other site can sign a browser in to an account of its choosing. These handlers write in
transactions of their own: a refused sign-in must still count, while the request answers with an error."""

from __future__ import annotations

import secrets
from typing import Final

from fastapi import APIRouter, Request
from fastapi.responses import Response

from checkstand.dashboard import signin, users
from checkstand.dashboard.web import (
    NEXT_FIELD,
    PRE_SESSION_COOKIE,
    PREFIX,
    SESSION_COOKIE,
    SIGN_IN,
    CheckedForm,
    SignedInUser,
    clear_session_cookie,
    client_ip,
    database,
    local_next,
    pre_session_csrf,
    pre_session_form_ok,
    redirect,
    render,
    set_pre_session_cookie,
    set_session_cookie,
)

router = APIRouter(prefix=PREFIX, include_in_schema=False)

WRONG_CREDENTIALS: Final = "That email and password don't match a dashboard user."
THROTTLED: Final = "Too many failed sign-ins. Wait 15 minutes, then try again."
LINK_UNUSABLE: Final = "This sign-in link was used already or has expired. Ask for a new one."
MAX_FIELD_LENGTH: Final = 1024


def _sign_in_page(
    request: Request, *, status_code: int = 200, error: str | None = None, email: str = "", next_path: str = ""
) -> Response:
    pre_session = request.cookies.get(PRE_SESSION_COOKIE) or secrets.token_urlsafe(32)
    response = render(
        request,
        "sign_in.html",
        status_code=status_code,
        csrf_token=pre_session_csrf(request, pre_session),
        error=error,
        email=email,
        next_path=local_next(next_path) if next_path else "",
    )
    set_pre_session_cookie(request, response, pre_session)
    return response


@router.get("/sign-in")
async def sign_in_form(request: Request) -> Response:
    return _sign_in_page(request, next_path=request.query_params.get(NEXT_FIELD, ""))


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    form = await request.form()
    if not pre_session_form_ok(request, form):
        return render(request, "refused.html", status_code=403)
    email = _field(form.get("email"))
    password = _field(form.get("password"))
    next_path = local_next(form.get(NEXT_FIELD))
    normalized = users.normalized_email(email)
    async with database(request).writing() as session:
        if await signin.throttled(session, normalized, client_ip(request)):
            return _sign_in_page(request, status_code=429, error=THROTTLED, email=email, next_path=next_path)
        user = await users.authenticate(session, normalized, password)
        if user is None:
            await signin.record_failure(session, normalized, client_ip(request))
            await session.commit()
            return _sign_in_page(request, status_code=401, error=WRONG_CREDENTIALS, email=email, next_path=next_path)
        started = await signin.start_session(session, user, replacing=request.cookies.get(SESSION_COOKIE))
        await session.commit()
    return _signed_in(request, started, next_path)


@router.get("/sign-in/link/{token}")
async def sign_in_link_form(request: Request, token: str) -> Response:
    """A button, not a sign-in: a mail scanner or a preview that fetches the link must not spend it."""
    pre_session = request.cookies.get(PRE_SESSION_COOKIE) or secrets.token_urlsafe(32)
    response = render(
        request, "sign_in_link.html", csrf_token=pre_session_csrf(request, pre_session), token=token[:200]
    )
    set_pre_session_cookie(request, response, pre_session)
    return response


@router.post("/sign-in/link")
async def sign_in_with_link(request: Request) -> Response:
    form = await request.form()
    if not pre_session_form_ok(request, form):
        return render(request, "refused.html", status_code=403)
    async with database(request).writing() as session:
        user = await users.redeem_sign_in_link(session, _field(form.get("token")))
        if user is None:
            await session.commit()  # an expired link is spent too
            return _sign_in_page(request, status_code=400, error=LINK_UNUSABLE)
        started = await signin.start_session(session, user, replacing=request.cookies.get(SESSION_COOKIE))
        await session.commit()
    return _signed_in(request, started, local_next(None))


@router.post("/sign-out")
async def sign_out(request: Request, user: SignedInUser, form: CheckedForm) -> Response:
    async with database(request).writing() as session:
        await signin.end_session(session, request.cookies.get(SESSION_COOKIE) or "")
        await session.commit()
    response = redirect(SIGN_IN)
    clear_session_cookie(request, response)
    return response


def _signed_in(request: Request, started: signin.StartedSession, next_path: str) -> Response:
    response = redirect(next_path)
    set_session_cookie(request, response, started.token)
    return response


def _field(value: object) -> str:
    return value[:MAX_FIELD_LENGTH] if isinstance(value, str) else ""
