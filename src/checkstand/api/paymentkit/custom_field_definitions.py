"""``custom-field-definitions/``: the fields a merchant defines for customers, products, sessions..."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response, status
from pydantic import Field, StringConstraints

from checkstand.api.http.auth import AccountId
from checkstand.api.http.unit_of_work import Session
from checkstand.api.paymentkit.common import Omittable, ResponseModel, WireModel
from checkstand.custom_fields import service as custom_fields
from checkstand.custom_fields.models import CustomFieldDefinition

router = APIRouter(prefix="/api/{account_id}/custom-field-definitions", tags=["custom-field-definitions"])

EntityType = Literal["customer", "subscription", "product", "price", "invoice", "checkout_session"]
DataType = Literal["text", "number", "boolean", "select"]
FieldKey = Annotated[str, StringConstraints(pattern=custom_fields.FIELD_KEY_PATTERN)]
DisplayName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Description = Annotated[str, Field(max_length=500)]

DELETED_VALUES_HEADER = "X-Deleted-Values-Count"


class CustomFieldDefinitionOut(ResponseModel):
    id: str
    field_key: str
    entity_type: str
    data_type: str
    display_name: str
    description: str | None
    constraints: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, definition: CustomFieldDefinition) -> CustomFieldDefinitionOut:
        return cls.model_validate(definition)


class CustomFieldDefinitionCreate(WireModel):
    field_key: FieldKey = Field(
        description="Starts with a letter; lowercase letters, digits, '_' and '-'; 2 to 64 characters."
    )
    entity_type: EntityType
    data_type: DataType
    display_name: DisplayName
    description: Description | None = None
    constraints: dict[str, Any] | None = Field(
        default=None,
        description="All types: required. text: max_length (at most 500). number: min, max. select: options.",
    )


class CustomFieldDefinitionUpdate(WireModel):
    # Omitted keeps the name; an explicit null would leave the field without one.
    display_name: Omittable[DisplayName] = None
    description: Description | None = None
    constraints: dict[str, Any] | None = Field(default=None, description="Replaces the constraints as a whole.")


class CustomFieldDefinitionDelete(WireModel):
    confirm_field_key: str = Field(description="Must repeat the definition's field_key.")


@router.get("/")
async def list_custom_field_definitions(
    account_id: AccountId,
    session: Session,
    entity_type: Annotated[EntityType | None, Query(description="Only the fields of this entity type.")] = None,
) -> list[CustomFieldDefinitionOut]:
    definitions = await custom_fields.list_definitions(session, account_id, entity_type)
    return [CustomFieldDefinitionOut.of(definition) for definition in definitions]


@router.post("/", status_code=status.HTTP_201_CREATED)
async def create_custom_field_definition(
    account_id: AccountId, body: CustomFieldDefinitionCreate, session: Session
) -> CustomFieldDefinitionOut:
    definition = await custom_fields.create_definition(session, account_id, **body.model_dump())
    return CustomFieldDefinitionOut.of(definition)


@router.get("/{definition_id}")
async def get_custom_field_definition(
    account_id: AccountId, definition_id: str, session: Session
) -> CustomFieldDefinitionOut:
    return CustomFieldDefinitionOut.of(await custom_fields.get_definition(session, account_id, definition_id))


@router.patch("/{definition_id}")
async def update_custom_field_definition(
    account_id: AccountId, definition_id: str, body: CustomFieldDefinitionUpdate, session: Session
) -> CustomFieldDefinitionOut:
    changes = body.model_dump(exclude_unset=True)
    definition = await custom_fields.update_definition(session, account_id, definition_id, changes)
    return CustomFieldDefinitionOut.of(definition)


@router.delete("/{definition_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_custom_field_definition(
    account_id: AccountId, definition_id: str, body: CustomFieldDefinitionDelete, session: Session
) -> Response:
    """Deletes the definition and every value stored under it; the header tells how many objects lost one."""
    deleted = await custom_fields.delete_definition(session, account_id, definition_id, body.confirm_field_key)
    return Response(status_code=status.HTTP_204_NO_CONTENT, headers={DELETED_VALUES_HEADER: str(deleted)})
