"""``processors/``: an account's processor connections (the built-in simulator, Stripe).

The SDK has no such resource, so this one follows its conventions: JSON bodies, ``{"items", "total", "has_more"}``
lists, 204 on delete. Credentials go in and never come out: a response shows whether a key is set and its last four
characters, as Stripe's dashboard does. A Stripe publishable key is no secret (every customer's browser gets it) and
is shown whole.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request, Response, status
from pydantic import AnyHttpUrl, Field, SecretStr, StringConstraints

from checkstand.api.http.auth import AccountId
from checkstand.api.http.query import list_query
from checkstand.api.http.unit_of_work import Session
from checkstand.api.paymentkit.common import CURRENCY_SCHEMA, Metadata, Omittable, PageOut, ResponseModel, WireModel
from checkstand.core.crypto import SecretBox
from checkstand.core.listing import ListParams
from checkstand.processors import connections
from checkstand.processors.models import Processor

router = APIRouter(prefix="/api/{account_id}/processors", tags=["processors"])


async def secret_box(request: Request) -> SecretBox:
    """The app's at-rest key, handed to the service rather than fetched by it."""
    box: SecretBox = request.app.state.secret_box
    return box


Box = Annotated[SecretBox, Depends(secret_box)]


async def allow_private_urls(request: Request) -> bool:
    """Whether the operator lets a Stripe api_base be plain http or on a private address
    (``CHECKSTAND_PROCESSOR_ALLOW_PRIVATE_URLS``)."""
    return bool(request.app.state.settings.processor_allow_private_urls)


AllowPrivateUrls = Annotated[bool, Depends(allow_private_urls)]

ProcessorName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Currencies = Annotated[
    list[Annotated[str, StringConstraints(strip_whitespace=True, max_length=3), CURRENCY_SCHEMA]],
    Field(
        max_length=connections.MAX_CURRENCIES,
        description="Lower-case ISO 4217 codes, e.g. ['usd', 'eur'].",
        examples=[["usd", "eur"]],
        # At least one, each once: the service says so in its own words.
        json_schema_extra={"minItems": 1, "uniqueItems": True},
    ),
]
# A secret never shows in a repr, a validation error or a dump of the request model.
Secret = Annotated[SecretStr, Field(max_length=256)]
ApiBase = Annotated[
    AnyHttpUrl,
    Field(
        description="Where to reach Stripe's API instead of api.stripe.com: https, on a public address, unless the "
        "operator allows otherwise (CHECKSTAND_PROCESSOR_ALLOW_PRIVATE_URLS, e.g. for localstripe)."
    ),
]
ProcessorMetadata = Annotated[Metadata, Field(max_length=50)]


class ProcessorFields(WireModel):
    currencies: Currencies | None = None
    is_available: bool | None = Field(default=None, description="Simulator only: false makes it unavailable.")
    secret_key: Secret | None = Field(default=None, description="Stripe: sk_test_..., sk_live_... or rk_....")
    webhook_secret: Secret | None = Field(default=None, description="Stripe: the endpoint's signing secret, whsec_...")
    api_base: ApiBase | None = None
    publishable_key: Annotated[str, Field(max_length=256)] | None = Field(
        default=None,
        description="Stripe: pk_test_... or pk_live_..., for Stripe's card form on the hosted page; null removes it.",
    )

    def service_fields(self) -> dict[str, Any]:
        """The fields the client sent, secrets unwrapped for the service (which seals them at once)."""
        fields = self.model_dump(exclude_unset=True, exclude={"secret_key", "webhook_secret", "api_base"})
        if "api_base" in self.model_fields_set:
            # Stripe's library joins its paths onto the base: a trailing slash would double theirs.
            fields["api_base"] = None if self.api_base is None else str(self.api_base).rstrip("/")
        for name in ("secret_key", "webhook_secret"):
            if name in self.model_fields_set:
                secret: SecretStr | None = getattr(self, name)
                fields[name] = None if secret is None else secret.get_secret_value()
        return fields


class ProcessorCreate(ProcessorFields):
    name: ProcessorName
    type: Literal["simulator", "stripe"]
    is_active: bool = True
    metadata: ProcessorMetadata | None = None


class ProcessorUpdate(ProcessorFields):
    # Omitted keeps the current value; an explicit null would leave the processor without one.
    name: Omittable[ProcessorName] = None
    is_active: Omittable[bool] = None
    currencies: Omittable[Currencies] = None
    is_available: Omittable[bool] = Field(default=None, description="Simulator only: false makes it unavailable.")
    metadata: ProcessorMetadata | None = Field(
        default=None, description='Merged into the current metadata; a key set to "" is removed, null clears all.'
    )


class ProcessorOut(ResponseModel):
    id: str
    name: str
    type: str
    currencies: list[str]
    is_available: bool
    is_active: bool
    livemode: bool | None = Field(description="Stripe: whether the key is a live one; null for the simulator.")
    api_base: str | None
    publishable_key: str | None = Field(description="Stripe: the key Stripe.js uses on the hosted page; not a secret.")
    has_secret_key: bool
    secret_key_last4: str | None
    has_webhook_secret: bool
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, processor: Processor) -> ProcessorOut:
        return cls(
            id=processor.id,
            name=processor.name,
            type=processor.type,
            currencies=processor.currencies,
            is_available=processor.is_available,
            is_active=processor.is_active,
            livemode=processor.livemode,
            api_base=processor.api_base,
            publishable_key=processor.publishable_key,
            # A Stripe connection's sealed credentials always hold both secrets.
            has_secret_key=processor.sealed_credentials is not None,
            secret_key_last4=processor.secret_key_last4,
            has_webhook_secret=processor.sealed_credentials is not None,
            metadata=processor.processor_metadata,
            created_at=processor.created_at,
            updated_at=processor.updated_at,
        )


ProcessorListQuery = Annotated[ListParams, Depends(list_query(connections.PROCESSOR_LIST))]


@router.get("/")
async def list_processors(account_id: AccountId, params: ProcessorListQuery, session: Session) -> PageOut[ProcessorOut]:
    """Filterable by type, is_active and name; search looks in the name."""
    page = await connections.list_processors(session, account_id, params)
    return PageOut[ProcessorOut].of(page, [ProcessorOut.of(p) for p in page.items])


@router.post("/", status_code=status.HTTP_201_CREATED)
async def create_processor(
    account_id: AccountId, body: ProcessorCreate, session: Session, box: Box, allow_private: AllowPrivateUrls
) -> ProcessorOut:
    processor = await connections.create_processor(
        session, account_id, box, **body.service_fields(), allow_private_urls=allow_private
    )
    return ProcessorOut.of(processor)


@router.get("/{processor_id}")
async def get_processor(account_id: AccountId, processor_id: str, session: Session) -> ProcessorOut:
    return ProcessorOut.of(await connections.get_processor(session, account_id, processor_id))


@router.patch("/{processor_id}")
async def update_processor(
    account_id: AccountId,
    processor_id: str,
    body: ProcessorUpdate,
    session: Session,
    box: Box,
    allow_private: AllowPrivateUrls,
) -> ProcessorOut:
    processor = await connections.update_processor(
        session, account_id, processor_id, body.service_fields(), box, allow_private_urls=allow_private
    )
    return ProcessorOut.of(processor)


@router.delete("/{processor_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_processor(account_id: AccountId, processor_id: str, session: Session) -> Response:
    """Refused (409 ``processor_in_use``) while a processor route names the processor."""
    await connections.delete_processor(session, account_id, processor_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
