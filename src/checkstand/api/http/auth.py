"""``Authorization: Bearer <secret key>`` on every API route, and the tenancy check on ``api/{account_id}/``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Path, Request

from checkstand.accounts import service as accounts
from checkstand.api.http.unit_of_work import Session
from checkstand.core.errors import NotAuthenticated, NotFound, PermissionDenied


@dataclass(frozen=True)
class Principal:
    """Who is calling: the account a valid secret key acts for."""

    account_id: str
    api_key_id: str


async def current_principal(request: Request, session: Session) -> Principal:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthenticated("Send your secret key as 'Authorization: Bearer sk_...'.")
    token = token.strip()
    key = await accounts.find_active_key(session, token)
    if key is None:
        if await accounts.is_publishable_key(session, token):
            raise PermissionDenied(
                "A publishable key can't call the API; use a secret key.", code="publishable_key_not_allowed"
            )
        raise NotAuthenticated("The API key is unknown, revoked or expired.", code="invalid_api_key")
    principal = Principal(account_id=key.account_id, api_key_id=key.id)
    request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


async def path_account_id(
    account_id: Annotated[str, Path(description="The account the request acts on.")],
    principal: CurrentPrincipal,
) -> str:
    """The ``{account_id}`` of the path, which must be the key's own: another account's is answered as unknown,
    so a key can't even learn which account ids exist."""
    if account_id != principal.account_id:
        raise NotFound("account", account_id)
    return account_id


AccountId = Annotated[str, Depends(path_account_id)]
