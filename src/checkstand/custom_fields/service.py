"""Custom field definitions, and the one validator every module calls where custom field values are set.

A definition says which key objects of one entity type may carry, its data type and its constraints. Values live on
the objects themselves (a JSON ``custom_fields`` column owned by each module); a module that stores values registers
a :class:`ValueStore` for its entity type, so deleting a definition deletes its values and a select option still in
use can't be removed.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol, TypeGuard

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from checkstand.core.errors import Conflict, FieldPath, FieldProblem, InvalidFields
from checkstand.core.ids import new_id
from checkstand.core.lookup import one_or_not_found
from checkstand.custom_fields.models import CustomFieldDefinition
from checkstand.events.service import record_event, snapshot

__all__ = [
    "DATA_TYPES",
    "ENTITY_TYPES",
    "FIELD_KEY_PATTERN",
    "CustomFieldDefinition",
    "JsonColumnStore",
    "ValueStore",
    "apply_custom_fields",
    "check_constraints",
    "create_definition",
    "delete_definition",
    "get_definition",
    "list_definitions",
    "register_value_store",
    "update_definition",
]

# As the SDK's CustomFieldEntityType and CustomFieldDataType list them.
ENTITY_TYPES: Final = ("customer", "subscription", "product", "price", "invoice", "checkout_session")
DATA_TYPES: Final = ("text", "number", "boolean", "select")
FIELD_KEY_PATTERN: Final = r"^[a-z][a-z0-9_-]{1,63}$"
TEXT_MAX_LENGTH: Final = 500
MAX_OPTIONS: Final = 100
OPTION_MAX_LENGTH: Final = 100
# The SDK lists definitions without pagination; a cap keeps that answer bounded.
MAX_DEFINITIONS_PER_ENTITY_TYPE: Final = 100


class ValueStore(Protocol):
    """Where one entity type keeps its custom field values."""

    async def purge(self, session: AsyncSession, account_id: str, field_key: str) -> int:
        """Delete every value stored under ``field_key``; returns how many objects had one."""
        ...

    async def values_in_use(
        self, session: AsyncSession, account_id: str, field_key: str, values: Collection[str]
    ) -> set[str]:
        """Which of ``values`` some object stores under ``field_key``."""
        ...


@dataclass(frozen=True)
class JsonColumnStore:
    """The usual store: a JSON ``custom_fields`` column on a table with an ``account_id`` column."""

    column: InstrumentedAttribute[dict[str, Any]]
    account_column: InstrumentedAttribute[str]

    async def purge(self, session: AsyncSession, account_id: str, field_key: str) -> int:
        # Through the ORM, so objects already loaded in this session see the change too.
        rows = await session.scalars(
            select(self.column.class_).where(
                self.account_column == account_id, self.column[field_key].as_string().is_not(None)
            )
        )
        count = 0
        for row in rows:
            values: dict[str, Any] = getattr(row, self.column.key)
            setattr(row, self.column.key, {key: value for key, value in values.items() if key != field_key})
            count += 1
        await session.flush()
        return count

    async def values_in_use(
        self, session: AsyncSession, account_id: str, field_key: str, values: Collection[str]
    ) -> set[str]:
        stored = self.column[field_key].as_string()
        found = await session.scalars(
            select(stored).distinct().where(self.account_column == account_id, stored.in_(list(values)))
        )
        return set(found)


_stores: dict[str, list[ValueStore]] = {}


def register_value_store(entity_type: str, store: ValueStore) -> None:
    """Called by each module that stores ``entity_type``'s values, when it is imported. One entity type may have
    several stores (a subscription's values are held by checkout sessions before the subscription exists)."""
    if entity_type not in ENTITY_TYPES:
        raise ValueError(f"unknown entity type {entity_type!r}")
    _stores.setdefault(entity_type, []).append(store)


async def apply_custom_fields(
    session: AsyncSession,
    account_id: str,
    entity_type: str,
    current: dict[str, Any],
    changes: Mapping[str, Any] | None,
    *,
    path: FieldPath = ("custom_fields",),
) -> dict[str, Any]:
    """The custom fields to store after applying ``changes`` to ``current``; the only place values are checked.

    Each change must name a field defined for ``entity_type`` and fit its data type and constraints; a value of
    None deletes that key. ``changes=None`` (the client sent no custom fields) changes nothing. Every required
    field must have a value in the result, so call this on every create (``current={}``, even when ``changes`` is
    None) and on updates that send custom fields. Values whose definition was deleted are dropped. All problems
    are reported at once, each at ``path + (field_key,)``; ``current`` is never modified.
    """
    if entity_type not in ENTITY_TYPES:
        raise ValueError(f"unknown entity type {entity_type!r}")
    definitions = {d.field_key: d for d in await list_definitions(session, account_id, entity_type)}
    result = {key: value for key, value in current.items() if key in definitions}
    problems: list[FieldProblem] = []
    for key, value in (changes or {}).items():
        definition = definitions.get(key)
        if definition is None:
            problems.append(
                FieldProblem((*path, key), f"no custom field {key!r} is defined for {entity_type}", "extra_forbidden")
            )
        elif value is None:
            result.pop(key, None)
        elif (problem := _value_problem(definition, value)) is not None:
            problems.append(FieldProblem((*path, key), *problem))
        else:
            result[key] = value
    reported = {problem.path[-1] for problem in problems}
    problems.extend(
        FieldProblem((*path, key), f"custom field {key!r} is required", "missing")
        for key, definition in definitions.items()
        if definition.constraints.get("required") and key not in result and key not in reported
    )
    if problems:
        raise InvalidFields(problems)
    return result


def _value_problem(definition: CustomFieldDefinition, value: Any) -> tuple[str, str] | None:
    """Why ``value`` doesn't fit ``definition``, as (message, type), or None when it does."""
    constraints = definition.constraints
    if definition.data_type == "text":
        if not isinstance(value, str):
            return "must be a string", "string_type"
        limit = constraints.get("max_length", TEXT_MAX_LENGTH)
        if len(value) > limit:
            return f"must be at most {limit} characters", "string_too_long"
    elif definition.data_type == "number":
        if not _is_number(value):
            return "must be a finite number", "finite_number"
        if "min" in constraints and value < constraints["min"]:
            return f"must be at least {constraints['min']}", "greater_than_equal"
        if "max" in constraints and value > constraints["max"]:
            return f"must be at most {constraints['max']}", "less_than_equal"
    elif definition.data_type == "boolean":
        if not isinstance(value, bool):
            return "must be true or false", "bool_type"
    elif definition.data_type == "select":
        options = constraints.get("options", [])
        if not isinstance(value, str) or value not in options:
            return "must be one of: " + ", ".join(repr(option) for option in options), "literal_error"
    return None


def _is_number(value: Any) -> bool:
    # bool is an int to Python, but true is not a number to a JSON client.
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


_CONSTRAINTS_BY_TYPE: Final = {
    "text": frozenset({"required", "max_length"}),
    "number": frozenset({"required", "min", "max"}),
    "boolean": frozenset({"required"}),
    "select": frozenset({"required", "options"}),
}


def check_constraints(
    data_type: str, raw: Mapping[str, Any] | None, *, path: FieldPath = ("constraints",)
) -> dict[str, Any]:
    """The constraints object checked against ``data_type``: only the constraints that type has, each well-formed
    (a select needs a non-empty list of distinct options). Returns what to store."""
    raw = raw or {}
    allowed = _CONSTRAINTS_BY_TYPE[data_type]
    problems: list[FieldProblem] = []
    for name in raw:
        if name not in allowed:
            names = ", ".join(sorted(allowed))
            problems.append(
                FieldProblem(
                    (*path, name), f"a {data_type} field has no constraint {name!r}; it has: {names}", "extra_forbidden"
                )
            )
    checked: dict[str, Any] = {}
    if "required" in raw:
        if isinstance(raw["required"], bool):
            checked["required"] = raw["required"]
        else:
            problems.append(FieldProblem((*path, "required"), "must be true or false", "bool_type"))
    if "max_length" in raw and "max_length" in allowed:
        length = raw["max_length"]
        if isinstance(length, int) and not isinstance(length, bool) and 1 <= length <= TEXT_MAX_LENGTH:
            checked["max_length"] = length
        else:
            problems.append(FieldProblem((*path, "max_length"), f"must be an integer from 1 to {TEXT_MAX_LENGTH}"))
    for bound in ("min", "max"):
        if bound in raw and bound in allowed:
            if _is_number(raw[bound]):
                checked[bound] = raw[bound]
            else:
                problems.append(FieldProblem((*path, bound), "must be a finite number", "finite_number"))
    if "min" in checked and "max" in checked and checked["min"] > checked["max"]:
        problems.append(FieldProblem((*path, "max"), "must not be less than min"))
    if data_type == "select":
        options = raw.get("options")
        if _are_options(options):
            checked["options"] = list(options)
        else:
            problems.append(
                FieldProblem(
                    (*path, "options"),
                    f"a select field needs 1 to {MAX_OPTIONS} distinct, non-empty options of at most "
                    f"{OPTION_MAX_LENGTH} characters",
                )
            )
    if problems:
        raise InvalidFields(problems)
    return checked


def _are_options(options: Any) -> TypeGuard[list[str]]:
    return (
        isinstance(options, list)
        and 0 < len(options) <= MAX_OPTIONS
        and all(isinstance(option, str) and 0 < len(option) <= OPTION_MAX_LENGTH for option in options)
        and len(set(options)) == len(options)
    )


async def create_definition(
    session: AsyncSession,
    account_id: str,
    *,
    field_key: str,
    entity_type: str,
    data_type: str,
    display_name: str,
    description: str | None = None,
    constraints: Mapping[str, Any] | None = None,
) -> CustomFieldDefinition:
    definition = CustomFieldDefinition(
        id=new_id("cfd"),
        account_id=account_id,
        field_key=field_key,
        entity_type=entity_type,
        data_type=data_type,
        display_name=display_name,
        description=description,
        constraints=check_constraints(data_type, constraints),
    )
    count = await session.scalar(
        select(func.count())
        .select_from(CustomFieldDefinition)
        .where(CustomFieldDefinition.account_id == account_id, CustomFieldDefinition.entity_type == entity_type)
    )
    if (count or 0) >= MAX_DEFINITIONS_PER_ENTITY_TYPE:
        raise Conflict(
            f"An account can define at most {MAX_DEFINITIONS_PER_ENTITY_TYPE} custom fields per entity type.",
            code="custom_field_limit_reached",
        )
    if await _find_by_key(session, account_id, entity_type, field_key) is not None:
        raise _key_taken(entity_type, field_key)
    try:
        # A savepoint: a concurrent create of the same key loses on the unique constraint without spoiling the
        # caller's transaction.
        async with session.begin_nested():
            session.add(definition)
    except IntegrityError:
        raise _key_taken(entity_type, field_key) from None
    await record_event(session, account_id=account_id, type="custom_field_definition.created", obj=definition)
    return definition


def _key_taken(entity_type: str, field_key: str) -> Conflict:
    return Conflict(
        f"A custom field with key {field_key!r} is already defined for {entity_type}.", code="custom_field_key_taken"
    )


async def _find_by_key(
    session: AsyncSession, account_id: str, entity_type: str, field_key: str
) -> CustomFieldDefinition | None:
    return await session.scalar(
        select(CustomFieldDefinition).where(
            CustomFieldDefinition.account_id == account_id,
            CustomFieldDefinition.entity_type == entity_type,
            CustomFieldDefinition.field_key == field_key,
        )
    )


async def get_definition(session: AsyncSession, account_id: str, definition_id: str) -> CustomFieldDefinition:
    return await one_or_not_found(
        session,
        select(CustomFieldDefinition).where(
            CustomFieldDefinition.id == definition_id, CustomFieldDefinition.account_id == account_id
        ),
        "custom_field_definition",
        definition_id,
    )


async def list_definitions(
    session: AsyncSession, account_id: str, entity_type: str | None = None
) -> Sequence[CustomFieldDefinition]:
    """All of the account's definitions (of one entity type if given), newest first."""
    query = select(CustomFieldDefinition).where(CustomFieldDefinition.account_id == account_id)
    if entity_type is not None:
        query = query.where(CustomFieldDefinition.entity_type == entity_type)
    query = query.order_by(CustomFieldDefinition.created_at.desc(), CustomFieldDefinition.id.desc())
    return (await session.scalars(query)).all()


async def update_definition(
    session: AsyncSession, account_id: str, definition_id: str, changes: Mapping[str, Any]
) -> CustomFieldDefinition:
    """Change ``display_name``, ``description`` or ``constraints`` (replaced as a whole). The key and the types
    are fixed: values already stored depend on them. A select option still stored on some object can't be
    removed."""
    definition = await get_definition(session, account_id, definition_id)
    before = snapshot(definition)
    if "constraints" in changes:
        constraints = check_constraints(definition.data_type, changes["constraints"])
        removed = set(definition.constraints.get("options", [])) - set(constraints.get("options", []))
        in_use: set[str] = set()
        if removed:
            for store in _stores.get(definition.entity_type, []):
                in_use |= await store.values_in_use(session, account_id, definition.field_key, removed)
        if in_use:
            raise InvalidFields.one(
                ("constraints", "options"),
                "can't remove options still in use: " + ", ".join(repr(option) for option in sorted(in_use)),
            )
        definition.constraints = constraints
    if "display_name" in changes:
        definition.display_name = changes["display_name"]
    if "description" in changes:
        definition.description = changes["description"]
    await session.flush()
    await record_event(
        session, account_id=account_id, type="custom_field_definition.updated", obj=definition, before=before
    )
    return definition


async def delete_definition(session: AsyncSession, account_id: str, definition_id: str, confirm_field_key: str) -> int:
    """Delete the definition and every value stored under it; returns how many objects lost a value.
    ``confirm_field_key`` must repeat the definition's key, so a mistyped id can't delete the wrong field."""
    definition = await get_definition(session, account_id, definition_id)
    if confirm_field_key != definition.field_key:
        raise InvalidFields.one(("confirm_field_key",), f"must be the definition's field_key, {definition.field_key!r}")
    deleted_values = 0
    for store in _stores.get(definition.entity_type, []):
        deleted_values += await store.purge(session, account_id, definition.field_key)
    await record_event(session, account_id=account_id, type="custom_field_definition.deleted", obj=definition)
    await session.delete(definition)
    await session.flush()
    return deleted_values
