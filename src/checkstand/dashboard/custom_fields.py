"""Custom field definitions in the dashboard: the list (by entity type), create, edit (name, description,
constraints: the key and types are fixed once values exist) and delete, which deletes every value stored under the
field and so asks for its key again, as the API does.

Every change is the call the API's ``custom-field-definitions/`` makes; the form checks only what the API's schema
checks before it (the key's pattern, the types offered, the lengths), and the service's messages are shown next to
the field each names."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any, Final

from fastapi import APIRouter, Request
from fastapi.responses import Response

from checkstand.api.http.unit_of_work import Session
from checkstand.core.errors import Conflict, InvalidFields, NotFound
from checkstand.custom_fields import service as custom_fields
from checkstand.custom_fields.models import CustomFieldDefinition
from checkstand.dashboard.forms import MAX_COUNT, MAX_ID_LENGTH, Form
from checkstand.dashboard.web import PREFIX, CheckedForm, SignedInUser, not_found, redirect, render

router = APIRouter(prefix=f"{PREFIX}/custom-fields", include_in_schema=False)

MAX_DISPLAY_NAME: Final = 100
MAX_DESCRIPTION: Final = 500
KEY_RULE: Final = "2 to 64 characters: a lowercase letter first, then lowercase letters, digits, '_' or '-'"
EDIT_FIELDS: Final = ("display_name", "description", "required", "options", "max_length", "min", "max")
CREATE_FIELDS: Final = ("field_key", "entity_type", "data_type", *EDIT_FIELDS)
PLACES: Final = {
    "field_key": "field_key",
    "entity_type": "entity_type",
    "data_type": "data_type",
    "display_name": "display_name",
    "description": "description",
    "constraints.required": "required",
    "constraints.options": "options",
    "constraints.max_length": "max_length",
    "constraints.min": "min",
    "constraints.max": "max",
    "confirm_field_key": "confirm_field_key",
}
DONE: Final = {"created": "Custom field created.", "saved": "Custom field saved."}


@router.get("")
async def list_fields(request: Request, user: SignedInUser, session: Session) -> Response:
    entity_type = request.query_params.get("entity_type")
    chosen = entity_type if entity_type in custom_fields.ENTITY_TYPES else None
    definitions = await custom_fields.list_definitions(session, user.account_id, chosen)
    deleted = request.query_params.get("deleted", "")[:64]
    return render(
        request,
        "custom_fields_list.html",
        user=user,
        definitions=definitions,
        entity_types=custom_fields.ENTITY_TYPES,
        entity_type=chosen or "",
        deleted=deleted if re.fullmatch(custom_fields.FIELD_KEY_PATTERN, deleted) else "",
    )


@router.get("/new")
async def new_field_form(request: Request, user: SignedInUser) -> Response:
    form = Form(values={"entity_type": "checkout_session", "data_type": "text"})
    return _create_form(request, user, form, status_code=200)


@router.post("/new")
async def create_field(request: Request, user: SignedInUser, form: CheckedForm, session: Session) -> Response:
    typed = Form.of(form, CREATE_FIELDS)
    field_key = typed.value("field_key").strip()
    if not re.fullmatch(custom_fields.FIELD_KEY_PATTERN, field_key):
        typed.errors["field_key"] = KEY_RULE
    entity_type = typed.value("entity_type")
    if entity_type not in custom_fields.ENTITY_TYPES:
        typed.errors["entity_type"] = "Choose where the field is asked"
    data_type = typed.value("data_type")
    if data_type not in custom_fields.DATA_TYPES:
        typed.errors["data_type"] = "Choose the kind of answer"
    texts = _texts(typed)
    constraints = _constraints(typed, data_type) if data_type in custom_fields.DATA_TYPES else {}
    if typed.errors:
        return _create_form(request, user, typed, status_code=422)
    try:
        definition = await custom_fields.create_definition(
            session,
            user.account_id,
            field_key=field_key,
            entity_type=entity_type,
            data_type=data_type,
            display_name=texts[0],
            description=texts[1],
            constraints=constraints,
        )
    except InvalidFields as refused:
        typed.place(refused.problems, PLACES)
        return _create_form(request, user, typed, status_code=422)
    except Conflict as refused:
        if refused.code == "custom_field_key_taken":
            typed.errors["field_key"] = refused.detail
        else:
            typed.alerts.append(refused.detail)
        return _create_form(request, user, typed, status_code=409)
    return redirect(f"{router.prefix}/{definition.id}?done=created")


@router.get("/{definition_id}")
async def field_detail(request: Request, definition_id: str, user: SignedInUser, session: Session) -> Response:
    try:
        definition = await custom_fields.get_definition(session, user.account_id, definition_id[:MAX_ID_LENGTH])
    except NotFound:
        return not_found(request, user)
    notice = DONE.get(request.query_params.get("done") or "")
    return _edit_form(request, user, definition, _values_of(definition), notice=notice, status_code=200)


@router.post("/{definition_id}")
async def save_field(
    request: Request, definition_id: str, user: SignedInUser, form: CheckedForm, session: Session
) -> Response:
    try:
        definition = await custom_fields.get_definition(session, user.account_id, definition_id[:MAX_ID_LENGTH])
    except NotFound:
        return not_found(request, user)
    typed = Form.of(form, EDIT_FIELDS)
    texts = _texts(typed)
    constraints = _constraints(typed, definition.data_type)
    if typed.errors:
        return _edit_form(request, user, definition, typed, status_code=422)
    changes = {"display_name": texts[0], "description": texts[1], "constraints": constraints}
    try:
        await custom_fields.update_definition(session, user.account_id, definition.id, changes)
    except InvalidFields as refused:
        typed.place(refused.problems, PLACES)
        return _edit_form(request, user, definition, typed, status_code=422)
    return redirect(f"{router.prefix}/{definition.id}?done=saved")


@router.post("/{definition_id}/delete")
async def delete_field(
    request: Request, definition_id: str, user: SignedInUser, form: CheckedForm, session: Session
) -> Response:
    confirm = Form.of(form, ("confirm_field_key",))
    try:
        definition = await custom_fields.get_definition(session, user.account_id, definition_id[:MAX_ID_LENGTH])
        field_key = definition.field_key
        await custom_fields.delete_definition(
            session, user.account_id, definition.id, confirm.value("confirm_field_key").strip()
        )
    except NotFound:
        return not_found(request, user)
    except InvalidFields as refused:
        confirm.place(refused.problems, PLACES)
        return _edit_form(request, user, definition, _values_of(definition), delete_form=confirm, status_code=422)
    return redirect(f"{router.prefix}?deleted={field_key}")


def _texts(form: Form) -> tuple[str, str | None]:
    """The display name and description, or their field errors (the API schema's bounds)."""
    display_name = form.text("display_name", max_length=MAX_DISPLAY_NAME, required="Give the field a label")
    return display_name or "", form.text("description", max_length=MAX_DESCRIPTION)


def _constraints(form: Form, data_type: str) -> dict[str, Any]:
    """The constraints of ``data_type`` as typed; the service checks each."""
    constraints: dict[str, Any] = {"required": form.value("required") == "yes"}
    if data_type == "select":
        constraints["options"] = [line.strip() for line in form.value("options").splitlines() if line.strip()]
    elif data_type == "text":
        if (length := form.whole_number("max_length", high=MAX_COUNT)) is not None:
            constraints["max_length"] = length
    elif data_type == "number":
        for bound in ("min", "max"):
            if (number := form.decimal(bound)) is not None:
                constraints[bound] = _json_number(number)
    return constraints


def _json_number(number: Decimal) -> int | float:
    """As a JSON client sends it: a whole number as an integer."""
    return int(number) if number == number.to_integral_value() else float(number)


def _values_of(definition: CustomFieldDefinition) -> Form:
    constraints = definition.constraints
    return Form(
        values={
            "display_name": definition.display_name,
            "description": definition.description or "",
            "required": "yes" if constraints.get("required") else "",
            "options": "\n".join(constraints.get("options", [])),
            "max_length": str(constraints.get("max_length", "")),
            "min": str(constraints.get("min", "")),
            "max": str(constraints.get("max", "")),
        }
    )


def _create_form(request: Request, user: SignedInUser, form: Form, *, status_code: int) -> Response:
    return render(
        request,
        "custom_fields_new.html",
        user=user,
        status_code=status_code,
        form=form,
        entity_types=custom_fields.ENTITY_TYPES,
        data_types=custom_fields.DATA_TYPES,
        max_text=custom_fields.TEXT_MAX_LENGTH,
    )


def _edit_form(
    request: Request,
    user: SignedInUser,
    definition: CustomFieldDefinition,
    form: Form,
    *,
    notice: str | None = None,
    delete_form: Form | None = None,
    status_code: int,
) -> Response:
    return render(
        request,
        "custom_fields_detail.html",
        user=user,
        status_code=status_code,
        definition=definition,
        form=form,
        delete_form=delete_form or Form(),
        notice=notice,
        max_text=custom_fields.TEXT_MAX_LENGTH,
    )
