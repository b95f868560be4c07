"""``api/accounts/``: the key's own account, its brand settings and its API keys."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Request, status
from pydantic import AnyHttpUrl, Field

from checkstand.accounts import service as accounts
from checkstand.accounts.models import Account, ApiKey
from checkstand.api.http.auth import AccountId, CurrentPrincipal
from checkstand.api.http.unit_of_work import Session
from checkstand.api.paymentkit.common import ResponseModel, WireModel, json_or_form_body
from checkstand.processors import routes as payments

router = APIRouter(prefix="/api/accounts", tags=["accounts"])


class BrandSettings(ResponseModel):
    name: str | None = None
    icon: str | None = None
    logo: str | None = None
    brand_color: str | None = None
    accent_color: str | None = None
    legal_name: str | None = None
    privacy_policy_url: str | None = None
    terms_of_service_url: str | None = None


HexColor = Annotated[str, Field(pattern=r"^#[0-9a-fA-F]{6}$", examples=["#4f46e5"])]


class BrandSettingsUpdate(WireModel):
    name: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    icon: AnyHttpUrl | None = None
    logo: AnyHttpUrl | None = None
    brand_color: HexColor | None = None
    accent_color: HexColor | None = None
    legal_name: Annotated[str, Field(max_length=200)] | None = None
    privacy_policy_url: AnyHttpUrl | None = None
    terms_of_service_url: AnyHttpUrl | None = None


class AccountOut(ResponseModel):
    id: str
    name: str
    description: str | None
    account_type: str
    organization_id: str
    settings: dict[str, Any] = Field(default_factory=dict)
    brand_settings: BrandSettings
    default_processor_route_id: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, account: Account) -> AccountOut:
        return cls(
            id=account.id,
            name=account.name,
            description=account.description,
            account_type=account.account_type,
            organization_id=account.organization_id,
            brand_settings=BrandSettings.model_validate(account.brand_settings),
            default_processor_route_id=account.default_processor_route_id,
            created_at=account.created_at,
            updated_at=account.updated_at,
        )


class ApiKeyOut(ResponseModel):
    """The SDK's ``ApiToken``: never the secret, only its first characters."""

    id: str
    description: str | None
    secret_token_preview: str
    publishable_token: str
    is_active: bool
    expires_at: datetime | None
    created_at: datetime
    updated_at: datetime


class ApiKeyCreated(ApiKeyOut):
    secret_token: str = Field(description="Shown this once; store it now.")


class ApiKeyCreate(WireModel):
    description: Annotated[str, Field(max_length=200)] | None = None


class DefaultProcessorRouteUpdate(WireModel):
    default_processor_route_id: str | None = Field(
        default=None, description="A processor route of this account; null clears the default."
    )


class DefaultProcessorRouteOut(ResponseModel):
    default_processor_route_id: str | None


@router.get("/", summary="The account the key acts for")
async def list_accounts(principal: CurrentPrincipal, session: Session) -> list[AccountOut]:
    return [AccountOut.of(await accounts.get_account(session, principal.account_id))]


@router.get("/{account_id}")
async def get_account(account_id: AccountId, session: Session) -> AccountOut:
    return AccountOut.of(await accounts.get_account(session, account_id))


@router.get("/{account_id}/brand-settings")
async def get_brand_settings(account_id: AccountId, session: Session) -> BrandSettings:
    return BrandSettings.model_validate((await accounts.get_account(session, account_id)).brand_settings)


@router.patch(
    "/{account_id}/brand-settings",
    openapi_extra={
        "requestBody": {
            "content": {
                media: {"schema": BrandSettingsUpdate.model_json_schema()}
                for media in ("application/json", "multipart/form-data")
            }
        }
    },
)
async def update_brand_settings(account_id: AccountId, request: Request, session: Session) -> AccountOut:
    """Answers with the whole account, as the SDK expects."""
    body = await json_or_form_body(request, BrandSettingsUpdate)
    account = await accounts.get_account(session, account_id)
    changes = body.model_dump(mode="json", exclude_unset=True)
    return AccountOut.of(await accounts.update_brand_settings(session, account, changes))


@router.patch("/{account_id}/default-processor-route")
async def update_default_processor_route(
    account_id: AccountId, body: DefaultProcessorRouteUpdate, session: Session
) -> DefaultProcessorRouteOut:
    """The route a checkout session without its own uses. An omitted field leaves the default as it is."""
    if "default_processor_route_id" in body.model_fields_set:
        route_id = await payments.set_default_route(session, account_id, body.default_processor_route_id)
    else:
        route_id = (await accounts.get_account(session, account_id)).default_processor_route_id
    return DefaultProcessorRouteOut(default_processor_route_id=route_id)


@router.get("/{account_id}/api-keys")
async def list_api_keys(account_id: AccountId, session: Session) -> list[ApiKeyOut]:
    return [ApiKeyOut.model_validate(key) for key in await accounts.list_api_keys(session, account_id)]


@router.post("/{account_id}/api-keys", status_code=status.HTTP_201_CREATED)
async def create_api_key(account_id: AccountId, body: ApiKeyCreate, session: Session) -> ApiKeyCreated:
    account = await accounts.get_account(session, account_id)
    issued = await accounts.create_api_key(session, account, description=body.description)
    return ApiKeyCreated(**_key_fields(issued.key), secret_token=issued.secret)


@router.delete("/{account_id}/api-keys/{key_id}")
async def revoke_api_key(account_id: AccountId, key_id: str, session: Session) -> ApiKeyOut:
    return ApiKeyOut.model_validate(await accounts.revoke_api_key(session, account_id, key_id))


def _key_fields(key: ApiKey) -> dict[str, Any]:
    return ApiKeyOut.model_validate(key).model_dump()
