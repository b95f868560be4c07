"""The custom field validator (every data type and constraint) and the definitions' own rules, on both backends."""

from __future__ import annotations

from typing import Any, get_args

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from payment_kit.types import CustomFieldDataType, CustomFieldEntityType
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.accounts import service as accounts
from checkstand.api.paymentkit import custom_field_definitions as wire
from checkstand.core.errors import Conflict, InvalidFields
from checkstand.custom_fields import service as custom_fields
from checkstand.custom_fields.service import CustomFieldDefinition, apply_custom_fields, check_constraints
from checkstand.customers import service as customers
from checkstand.events.models import Event

# The examples only read definitions created before them, so sharing the function's session is sound.
PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture
async def account_id(session: AsyncSession) -> str:
    account = await accounts.create_account(session, name="Fields")
    await session.flush()
    return account.id


async def define(
    session: AsyncSession,
    account_id: str,
    field_key: str,
    data_type: str,
    constraints: dict[str, Any] | None = None,
    entity_type: str = "customer",
) -> CustomFieldDefinition:
    return await custom_fields.create_definition(
        session,
        account_id,
        field_key=field_key,
        entity_type=entity_type,
        data_type=data_type,
        display_name=field_key.title(),
        constraints=constraints,
    )


def problems(raised: pytest.ExceptionInfo[InvalidFields]) -> dict[tuple[str | int, ...], str]:
    return {problem.path: problem.type for problem in raised.value.problems}


def test_entity_and_data_types_are_the_sdks() -> None:
    assert get_args(get_args(CustomFieldEntityType)[0]) == custom_fields.ENTITY_TYPES == get_args(wire.EntityType)
    assert get_args(get_args(CustomFieldDataType)[0]) == custom_fields.DATA_TYPES == get_args(wire.DataType)


async def test_values_of_every_type_are_kept(session: AsyncSession, account_id: str) -> None:
    await define(session, account_id, "nickname", "text")
    await define(session, account_id, "score", "number", {"min": 0, "max": 10})
    await define(session, account_id, "vip", "boolean")
    await define(session, account_id, "tier", "select", {"options": ["gold", "silver"]})
    values = {"nickname": "Ada", "score": 7.5, "vip": False, "tier": "gold"}
    assert await apply_custom_fields(session, account_id, "customer", {}, values) == values


@pytest.mark.parametrize(
    ("data_type", "constraints", "value", "problem"),
    [
        ("text", None, 5, "string_type"),
        ("text", None, ["a"], "string_type"),
        ("text", None, "x" * 501, "string_too_long"),
        ("number", None, "5", "finite_number"),
        ("number", None, True, "finite_number"),
        ("number", None, float("nan"), "finite_number"),
        ("number", None, float("inf"), "finite_number"),
        ("number", {"min": 1}, 0, "greater_than_equal"),
        ("number", {"max": 1}, 1.01, "less_than_equal"),
        ("boolean", None, "true", "bool_type"),
        ("boolean", None, 1, "bool_type"),
        ("select", {"options": ["a", "b"]}, "c", "literal_error"),
        ("select", {"options": ["1"]}, 1, "literal_error"),
    ],
)
async def test_wrong_values_are_refused_at_their_key(
    session: AsyncSession, account_id: str, data_type: str, constraints: dict[str, Any] | None, value: Any, problem: str
) -> None:
    await define(session, account_id, "field", data_type, constraints)
    with pytest.raises(InvalidFields) as raised:
        await apply_custom_fields(session, account_id, "customer", {}, {"field": value})
    assert problems(raised) == {("custom_fields", "field"): problem}


@PROPERTY
@given(value=st.text(max_size=40))
async def test_text_longer_than_max_length_is_refused_and_shorter_kept(
    session: AsyncSession, account_id: str, value: str
) -> None:
    if await custom_fields.list_definitions(session, account_id, "customer") == []:
        await define(session, account_id, "motto", "text", {"max_length": 20})
    if len(value) <= 20:
        assert await apply_custom_fields(session, account_id, "customer", {}, {"motto": value}) == {"motto": value}
    else:
        with pytest.raises(InvalidFields) as raised:
            await apply_custom_fields(session, account_id, "customer", {}, {"motto": value})
        assert problems(raised) == {("custom_fields", "motto"): "string_too_long"}


@PROPERTY
@given(value=st.integers(min_value=-(10**20), max_value=10**20) | st.floats(allow_nan=False, allow_infinity=False))
async def test_numbers_outside_min_and_max_are_refused_and_inside_kept(
    session: AsyncSession, account_id: str, value: float
) -> None:
    if await custom_fields.list_definitions(session, account_id, "customer") == []:
        await define(session, account_id, "weight", "number", {"min": -2.5, "max": 10})
    if -2.5 <= value <= 10:
        assert await apply_custom_fields(session, account_id, "customer", {}, {"weight": value}) == {"weight": value}
    else:
        with pytest.raises(InvalidFields):
            await apply_custom_fields(session, account_id, "customer", {}, {"weight": value})


async def test_unknown_keys_and_other_entity_types_and_accounts_are_refused(
    session: AsyncSession, account_id: str
) -> None:
    await define(session, account_id, "sku_note", "text", entity_type="product")
    other = await accounts.create_account(session, name="Other")
    await define(session, other.id, "nickname", "text")
    with pytest.raises(InvalidFields) as raised:
        await apply_custom_fields(session, account_id, "customer", {}, {"sku_note": "x", "nickname": "y"}, path=("cf",))
    assert problems(raised) == {
        ("cf", "sku_note"): "extra_forbidden",
        ("cf", "nickname"): "extra_forbidden",
    }


async def test_null_deletes_a_value_and_other_values_stay(session: AsyncSession, account_id: str) -> None:
    await define(session, account_id, "nickname", "text")
    await define(session, account_id, "vip", "boolean")
    current = {"nickname": "Ada", "vip": True}
    assert await apply_custom_fields(session, account_id, "customer", current, {"nickname": None}) == {"vip": True}
    assert await apply_custom_fields(session, account_id, "customer", current, {"vip": None, "nickname": "Bo"}) == {
        "nickname": "Bo"
    }
    assert current == {"nickname": "Ada", "vip": True}


async def test_none_changes_nothing(session: AsyncSession, account_id: str) -> None:
    await define(session, account_id, "nickname", "text")
    assert await apply_custom_fields(session, account_id, "customer", {"nickname": "Ada"}, None) == {"nickname": "Ada"}


async def test_required_fields_must_be_in_the_result(session: AsyncSession, account_id: str) -> None:
    await define(session, account_id, "tax_code", "text", {"required": True})
    await define(session, account_id, "nickname", "text")
    for current, changes in (({}, None), ({}, {"nickname": "Ada"}), ({"tax_code": "T1"}, {"tax_code": None})):
        with pytest.raises(InvalidFields) as raised:
            await apply_custom_fields(session, account_id, "customer", current, changes)
        assert problems(raised) == {("custom_fields", "tax_code"): "missing"}
    assert await apply_custom_fields(session, account_id, "customer", {"tax_code": "T1"}, {"nickname": "Ada"}) == {
        "tax_code": "T1",
        "nickname": "Ada",
    }


async def test_every_problem_is_reported_at_once(session: AsyncSession, account_id: str) -> None:
    await define(session, account_id, "vip", "boolean", {"required": True})
    await define(session, account_id, "score", "number")
    with pytest.raises(InvalidFields) as raised:
        await apply_custom_fields(session, account_id, "customer", {}, {"score": "high", "nope": 1})
    assert problems(raised) == {
        ("custom_fields", "score"): "finite_number",
        ("custom_fields", "nope"): "extra_forbidden",
        ("custom_fields", "vip"): "missing",
    }


async def test_values_of_a_deleted_definition_are_dropped(session: AsyncSession, account_id: str) -> None:
    await define(session, account_id, "nickname", "text")
    assert await apply_custom_fields(session, account_id, "customer", {"gone": 1, "nickname": "A"}, {}) == {
        "nickname": "A"
    }


@pytest.mark.parametrize(
    ("data_type", "constraints", "path"),
    [
        ("text", {"options": ["a"]}, "options"),
        ("text", {"max_length": 0}, "max_length"),
        ("text", {"max_length": 501}, "max_length"),
        ("text", {"max_length": True}, "max_length"),
        ("text", {"min": 1}, "min"),
        ("number", {"min": 5, "max": 1}, "max"),
        ("number", {"min": "1"}, "min"),
        ("number", {"max_length": 3}, "max_length"),
        ("boolean", {"max": 1}, "max"),
        ("boolean", {"required": "yes"}, "required"),
        ("select", None, "options"),
        ("select", {"options": []}, "options"),
        ("select", {"options": ["a", "a"]}, "options"),
        ("select", {"options": ["a", ""]}, "options"),
        ("select", {"options": "a,b"}, "options"),
        ("select", {"options": [str(i) for i in range(101)]}, "options"),
    ],
)
def test_constraints_are_checked_against_the_data_type(
    data_type: str, constraints: dict[str, Any] | None, path: str
) -> None:
    with pytest.raises(InvalidFields) as raised:
        check_constraints(data_type, constraints)
    assert [problem.path for problem in raised.value.problems] == [("constraints", path)]


def test_well_formed_constraints_are_kept() -> None:
    assert check_constraints("text", {"required": True, "max_length": 80}) == {"required": True, "max_length": 80}
    assert check_constraints("number", {"min": -1.5, "max": 3}) == {"min": -1.5, "max": 3}
    assert check_constraints("select", {"options": ["a", "b"]}) == {"options": ["a", "b"]}
    assert check_constraints("boolean", None) == {}


async def test_a_field_key_is_unique_per_account_and_entity_type(session: AsyncSession, account_id: str) -> None:
    await define(session, account_id, "code", "text")
    with pytest.raises(Conflict) as raised:
        await define(session, account_id, "code", "number")
    assert raised.value.code == "custom_field_key_taken"
    await define(session, account_id, "code", "text", entity_type="product")
    other = await accounts.create_account(session, name="Other")
    await define(session, other.id, "code", "text")


async def test_options_in_use_cannot_be_removed_unused_ones_can(session: AsyncSession, account_id: str) -> None:
    tier = await define(session, account_id, "tier", "select", {"options": ["gold", "silver", "bronze"]})
    await customers.create_customer(session, account_id, email="a@example.com", custom_fields={"tier": "gold"})
    with pytest.raises(InvalidFields) as raised:
        await custom_fields.update_definition(session, account_id, tier.id, {"constraints": {"options": ["silver"]}})
    assert problems(raised) == {("constraints", "options"): "value_error"}
    assert "'gold'" in raised.value.problems[0].msg
    updated = await custom_fields.update_definition(
        session, account_id, tier.id, {"constraints": {"options": ["gold", "platinum"]}, "display_name": "Tier"}
    )
    assert updated.constraints == {"options": ["gold", "platinum"]}
    assert updated.display_name == "Tier"


async def test_deleting_a_definition_deletes_its_values(session: AsyncSession, account_id: str) -> None:
    nickname = await define(session, account_id, "nickname", "text")
    await define(session, account_id, "vip", "boolean")
    with_both = await customers.create_customer(
        session, account_id, email="a@example.com", custom_fields={"nickname": "Ada", "vip": True}
    )
    without = await customers.create_customer(session, account_id, email="b@example.com", custom_fields={"vip": False})
    with pytest.raises(InvalidFields) as raised:
        await custom_fields.delete_definition(session, account_id, nickname.id, "nick")
    assert problems(raised) == {("confirm_field_key",): "value_error"}

    assert await custom_fields.delete_definition(session, account_id, nickname.id, "nickname") == 1
    assert with_both.custom_fields == {"vip": True}
    assert without.custom_fields == {"vip": False}
    assert [d.field_key for d in await custom_fields.list_definitions(session, account_id)] == ["vip"]


async def test_changes_record_events(session: AsyncSession, account_id: str) -> None:
    definition = await define(session, account_id, "nickname", "text")
    await custom_fields.update_definition(session, account_id, definition.id, {"description": "What friends say"})
    # The same change again changes nothing, so it announces nothing.
    await custom_fields.update_definition(session, account_id, definition.id, {"description": "What friends say"})
    await custom_fields.delete_definition(session, account_id, definition.id, "nickname")
    events = (await session.scalars(select(Event).where(Event.account_id == account_id).order_by(Event.seq))).all()
    assert [e.type for e in events] == [
        "custom_field_definition.created",
        "custom_field_definition.updated",
        "custom_field_definition.deleted",
    ]
    assert {e.aggregate_id for e in events} == {definition.id}
    assert events[1].previous_data == {"description": None}
    assert events[1].data["description"] == "What friends say"
