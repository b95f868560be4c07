"""``api/accounts/``: the key's own account, its brand settings and its API keys."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final

from fastapi import APIRouter, Request, status
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import UploadFile

from checkstand.accounts import branding
from checkstand.accounts import service as accounts
from checkstand.accounts.models import Account, ApiKey
from checkstand.api.http.auth import AccountId, CurrentPrincipal
from checkstand.api.http.unit_of_work import Session
from checkstand.api.paymentkit.common import (
    NOT_SUPPORTED_YET,
    WEB_URL_SCHEMA,
    Omittable,
    ResponseModel,
    WireModel,
    json_or_form_body,
)
from checkstand.core.errors import FieldProblem, InvalidFields
from checkstand.processors import routes as payments

router = APIRouter(prefix="/api/accounts", tags=["accounts"])

# A file part of the SDK's update_brand_settings that Checkstand has no use for.
APPLE_PAY_KEY_FILE: Final = "apple_pay_merchant_key_file"


class BrandSettings(ResponseModel):
    """``logo`` and ``icon``: the URL given, or where Checkstand serves the image uploaded."""

    name: str | None = None
    icon: str | None = None
    logo: str | None = None
    brand_color: str | None = None
    accent_color: str | None = None
    legal_name: str | None = None
    privacy_policy_url: str | None = None
    terms_of_service_url: str | None = None

    @classmethod
    def of(cls, brand: dict[str, Any], public_url: str) -> BrandSettings:
        images = {slot: branding.image_url(brand, slot, public_url) for slot in branding.IMAGE_SLOTS}
        return cls.model_validate({**brand, **images})


# Documented here, checked by the service (so the dashboard's form is refused in the same words).
Name = Annotated[
    str,
    Field(json_schema_extra={"minLength": 1, "maxLength": branding.TEXT_LIMITS["name"], "description": "Not empty."}),
]
LegalName = Annotated[str, Field(json_schema_extra={"maxLength": branding.TEXT_LIMITS["legal_name"]})]
Color = Annotated[
    str, Field(examples=["#4f46e5"], json_schema_extra={"pattern": branding.COLOR_PATTERN, "description": "#rrggbb"})
]
BrandUrl = Annotated[str, Field(json_schema_extra={**WEB_URL_SCHEMA, "maxLength": branding.MAX_URL_LENGTH})]
ImageFile = Annotated[
    bytes,
    Field(json_schema_extra={"format": "binary", "description": f"A {branding.IMAGE_TYPES} image; SVG is refused."}),
]


class BrandSettingsUpdate(WireModel):
    """As JSON (``logo`` and ``icon`` as URLs) or as the SDK's multipart form (see :class:`BrandSettingsForm`). A
    field left out keeps its value; null clears it."""

    name: Name | None = None
    icon: BrandUrl | None = None
    logo: BrandUrl | None = None
    brand_color: Color | None = None
    accent_color: Color | None = None
    legal_name: LegalName | None = None
    privacy_policy_url: BrandUrl | None = None
    terms_of_service_url: BrandUrl | None = None
    custom_domain: Annotated[str | None, NOT_SUPPORTED_YET] = None


class BrandSettingsForm(BaseModel):
    """The multipart form's reference: the SDK's ``update_brand_settings`` parts, ``logo`` and ``icon`` as files."""

    model_config = ConfigDict(extra="forbid")

    # A form has no null: a field is sent or left out.
    name: Omittable[Name] = None
    brand_color: Omittable[Color] = None
    accent_color: Omittable[Color] = None
    legal_name: Omittable[LegalName] = None
    privacy_policy_url: Omittable[BrandUrl] = None
    terms_of_service_url: Omittable[BrandUrl] = None
    logo: Omittable[ImageFile] = None
    icon: Omittable[ImageFile] = None


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
    def of(cls, account: Account, public_url: str) -> AccountOut:
        return cls(
            id=account.id,
            name=account.name,
            description=account.description,
            account_type=account.account_type,
            organization_id=account.organization_id,
            brand_settings=BrandSettings.of(account.brand_settings, public_url),
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
async def list_accounts(principal: CurrentPrincipal, session: Session, request: Request) -> list[AccountOut]:
    return [AccountOut.of(await accounts.get_account(session, principal.account_id), _public_url(request))]


@router.get("/{account_id}")
async def get_account(account_id: AccountId, session: Session, request: Request) -> AccountOut:
    return AccountOut.of(await accounts.get_account(session, account_id), _public_url(request))


@router.get("/{account_id}/brand-settings")
async def get_brand_settings(account_id: AccountId, session: Session, request: Request) -> BrandSettings:
    return BrandSettings.of((await accounts.get_account(session, account_id)).brand_settings, _public_url(request))


@router.patch(
    "/{account_id}/brand-settings",
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {"schema": BrandSettingsUpdate.model_json_schema()},
                "multipart/form-data": {"schema": BrandSettingsForm.model_json_schema()},
            }
        }
    },
)
async def update_brand_settings(account_id: AccountId, request: Request, session: Session) -> AccountOut:
    """Answers with the whole account, as the SDK expects. The SDK's ``apple_pay_merchant_key_file`` and
    ``custom_domain`` are refused (422 at the field): Checkstand offers neither, and a key file is never kept."""
    body = await json_or_form_body(request, BrandSettingsUpdate, files=(*branding.IMAGE_SLOTS, APPLE_PAY_KEY_FILE))
    limit: int = request.app.state.settings.brand_image_max_bytes
    images, refused = await _uploaded_images(request, limit)
    if body.custom_domain is not None:
        refused.append(FieldProblem(("custom_domain",), "custom domains are not supported", "not_supported"))
    if APPLE_PAY_KEY_FILE in images:
        refused.append(
            FieldProblem((APPLE_PAY_KEY_FILE,), "Apple Pay is not supported; the file was not kept", "not_supported")
        )
    changes = body.model_dump(exclude_unset=True, exclude={"custom_domain"})
    images.pop(APPLE_PAY_KEY_FILE, None)
    refused += branding.check(changes, images, max_image_bytes=limit)
    if refused:
        raise InvalidFields(refused)
    account = await accounts.get_account(session, account_id)
    updated = await accounts.update_brand_settings(session, account, changes, images, max_image_bytes=limit)
    return AccountOut.of(updated, _public_url(request))


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


def _public_url(request: Request) -> str:
    url: str = request.app.state.settings.resolved_public_url
    return url


async def _uploaded_images(request: Request, limit: int) -> tuple[dict[str, bytes], list[FieldProblem]]:
    """The files of a multipart body, each read no further than one byte past ``limit`` (enough to refuse it); and a
    problem for each part sent twice (a file and a URL, say), which would leave one of them silently unused."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        return {}, []
    form = await request.form()
    images = {key: await value.read(limit + 1) for key, value in form.items() if isinstance(value, UploadFile)}
    twice = sorted({key for key, _ in form.multi_items() if len(form.getlist(key)) > 1})
    return images, [FieldProblem((key,), "is given more than once; give it once", "duplicate") for key in twice]
