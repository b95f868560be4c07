"""API keys in the dashboard: list them, create one (its secret shown in that one answer, never again, never
logged) and revoke one, through the accounts service the API's own key handling uses. A revoked key is refused
by the API on its very next request."""

from __future__ import annotations

from typing import Final

from fastapi import APIRouter, Request
from fastapi.responses import Response

from checkstand.accounts import service as accounts
from checkstand.api.http.unit_of_work import Session
from checkstand.core.errors import Conflict, NotFound
from checkstand.dashboard.web import PREFIX, CheckedForm, SignedInUser, not_found, redirect, render

router = APIRouter(prefix=f"{PREFIX}/api-keys", include_in_schema=False)

MAX_DESCRIPTION_LENGTH: Final = 200
MAX_ID_LENGTH: Final = 64


@router.get("")
async def list_keys(request: Request, user: SignedInUser, session: Session) -> Response:
    revoked = request.query_params.get("revoked", "")[:MAX_ID_LENGTH]
    return await _page(request, user, session, revoked=revoked)


@router.post("")
async def create_key(request: Request, user: SignedInUser, form: CheckedForm, session: Session) -> Response:
    description = form.get("description")
    text = description.strip()[:MAX_DESCRIPTION_LENGTH] if isinstance(description, str) else ""
    account = await accounts.get_account(session, user.account_id)
    issued = await accounts.create_api_key(session, account, description=text or None)
    return await _page(request, user, session, issued=issued, status_code=201)


@router.post("/{key_id}/revoke")
async def revoke_key(
    request: Request, key_id: str, user: SignedInUser, form: CheckedForm, session: Session
) -> Response:
    try:
        await accounts.revoke_api_key(session, user.account_id, key_id[:MAX_ID_LENGTH])
    except NotFound:
        return not_found(request, user)
    except Conflict as refused:
        return await _page(request, user, session, alert=refused.detail, status_code=409)
    return redirect(f"{router.prefix}?revoked={key_id}")


async def _page(
    request: Request,
    user: SignedInUser,
    session: Session,
    *,
    issued: accounts.IssuedKey | None = None,
    revoked: str = "",
    alert: str | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "api_keys.html",
        user=user,
        status_code=status_code,
        keys=await accounts.list_api_keys(session, user.account_id),
        issued=issued,
        revoked=revoked,
        alert=alert,
        max_description=MAX_DESCRIPTION_LENGTH,
    )
