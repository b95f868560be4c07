"""Processor connections, processor routes and the choice of processors for a charge, on both backends."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.accounts import service as accounts
from checkstand.checkout import processor_routes as checkout_routes
from checkstand.checkout import service as checkout
from checkstand.cli import create_demo_account
from checkstand.core.clock import FrozenClock
from checkstand.core.crypto import SecretBox
from checkstand.core.errors import Conflict, InvalidFields, NotFound
from checkstand.events.models import Event
from checkstand.processors import connections, routes
from checkstand.processors.models import Processor
from checkstand.processors.routes import RouteStep
from tests.shop import Shop

BOX = SecretBox("test-at-rest-key")
SECRET_KEY = "sk_test_4eC39HqLyjWDarjtT1zdp7dc"
WEBHOOK_SECRET = "whsec_Tq1rkUu1W8mWnCyb2uXcGq0yYg5Qv3sE"

PROPERTY = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture
async def account_id(session: AsyncSession) -> str:
    account = await accounts.create_account(session, name="Payments")
    await session.flush()
    return account.id


async def simulator(
    session: AsyncSession, account_id: str, name: str = "Sim", currencies: list[str] | None = None
) -> Processor:
    return await connections.create_processor(
        session, account_id, BOX, name=name, type="simulator", currencies=currencies
    )


async def stripe(session: AsyncSession, account_id: str, name: str = "Stripe") -> Processor:
    return await connections.create_processor(
        session,
        account_id,
        BOX,
        name=name,
        type="stripe",
        currencies=["usd", "EUR"],
        secret_key=SECRET_KEY,
        webhook_secret=WEBHOOK_SECRET,
        api_base="http://127.0.0.1:8420",
        allow_private_urls=True,  # localstripe's address, as the tests' settings allow
    )


def paths(raised: pytest.ExceptionInfo[InvalidFields]) -> dict[tuple[str | int, ...], str]:
    return {problem.path: problem.type for problem in raised.value.problems}


# --- Processor connections -------------------------------------------------------------------------------------


async def test_a_simulator_takes_the_default_currencies_and_no_credentials(
    session: AsyncSession, account_id: str
) -> None:
    processor = await simulator(session, account_id)
    assert processor.id.startswith("proc_")
    assert processor.currencies == ["usd", "eur", "gbp", "jpy", "kwd"]
    assert processor.is_available
    assert processor.is_active
    assert processor.sealed_credentials is None
    assert connections.open_credentials(BOX, processor) is None

    with pytest.raises(InvalidFields) as raised:
        await connections.create_processor(
            session, account_id, BOX, name="Sim", type="simulator", secret_key=SECRET_KEY, api_base="http://x.test"
        )
    assert paths(raised) == {("secret_key",): "extra_forbidden", ("api_base",): "extra_forbidden"}


async def test_stripe_credentials_are_sealed_and_only_the_box_opens_them(
    session: AsyncSession, account_id: str
) -> None:
    processor = await stripe(session, account_id)
    await session.commit()
    assert processor.currencies == ["usd", "eur"]
    assert processor.secret_key_last4 == SECRET_KEY[-4:]
    assert processor.livemode is False
    # What is stored, read back raw: neither secret appears anywhere in the row.
    row = (await session.execute(text("SELECT * FROM processors WHERE id = :id"), {"id": processor.id})).one()
    stored = " ".join(str(value) for value in row)
    assert SECRET_KEY not in stored
    assert WEBHOOK_SECRET not in stored
    assert WEBHOOK_SECRET.removeprefix("whsec_") not in stored

    opened = connections.open_credentials(BOX, processor)
    assert opened is not None
    assert (opened.secret_key, opened.webhook_secret) == (SECRET_KEY, WEBHOOK_SECRET)
    assert SECRET_KEY not in repr(opened)
    with pytest.raises(ValueError, match="CHECKSTAND_SECRET_KEY"):
        connections.open_credentials(SecretBox("another key"), processor)


async def test_stripe_needs_well_formed_credentials_and_currencies(session: AsyncSession, account_id: str) -> None:
    with pytest.raises(InvalidFields) as raised:
        await connections.create_processor(session, account_id, BOX, name="S", type="stripe", is_available=False)
    assert paths(raised) == {
        ("secret_key",): "missing",
        ("webhook_secret",): "missing",
        ("currencies",): "missing",
        ("is_available",): "value_error",
    }
    with pytest.raises(InvalidFields) as raised:
        await connections.create_processor(
            session,
            account_id,
            BOX,
            name="S",
            type="stripe",
            currencies=["usd"],
            secret_key="pk_test_notasecretkey",
            webhook_secret="secret",
        )
    assert set(paths(raised)) == {("secret_key",), ("webhook_secret",)}
    assert "pk_test_notasecretkey" not in str(raised.value)
    restricted = await connections.create_processor(
        session,
        account_id,
        BOX,
        name="Restricted",
        type="stripe",
        currencies=["usd"],
        secret_key="rk_live_51HabcdefGHIJ",
        webhook_secret=WEBHOOK_SECRET,
    )
    assert restricted.livemode is True
    assert await session.scalar(select(Event.type).where(Event.aggregate_id == restricted.id)) == "processor.created"


async def test_currencies_are_checked_each_at_its_index(session: AsyncSession, account_id: str) -> None:
    with pytest.raises(InvalidFields) as raised:
        await simulator(session, account_id, currencies=["USD", "xyz", "usd", "jpy"])
    assert set(paths(raised)) == {("currencies", 1), ("currencies", 2)}
    with pytest.raises(InvalidFields) as raised:
        await simulator(session, account_id, currencies=[])
    assert set(paths(raised)) == {("currencies",)}
    assert await session.scalar(select(Processor.id).where(Processor.account_id == account_id)) is None


async def test_updating_one_secret_keeps_the_other(session: AsyncSession, account_id: str) -> None:
    processor = await stripe(session, account_id)
    new_key = "sk_live_ZZZZyyyyXXXXwwww9876"
    await connections.update_processor(
        session, account_id, processor.id, {"secret_key": new_key, "name": "Stripe live", "api_base": None}, BOX
    )
    opened = connections.open_credentials(BOX, processor)
    assert opened is not None
    assert (opened.secret_key, opened.webhook_secret) == (new_key, WEBHOOK_SECRET)
    assert (processor.secret_key_last4, processor.livemode, processor.api_base) == ("9876", True, None)
    event = await session.scalar(select(Event).where(Event.type == "processor.updated"))
    assert event is not None
    assert event.previous_data is not None
    assert set(event.previous_data) == {"name", "secret_key_last4", "livemode", "api_base"}
    assert new_key not in str(event.data)
    assert SECRET_KEY not in str(event.previous_data)

    with pytest.raises(InvalidFields) as raised:
        await connections.update_processor(
            session, account_id, processor.id, {"webhook_secret": None, "is_available": False}, BOX
        )
    assert set(paths(raised)) == {("webhook_secret",), ("is_available",)}


async def test_a_simulator_can_be_switched_unavailable_but_gets_no_credentials(
    session: AsyncSession, account_id: str
) -> None:
    processor = await simulator(session, account_id)
    await connections.update_processor(
        session, account_id, processor.id, {"is_available": False, "currencies": ["CHF"], "metadata": {"a": "1"}}, BOX
    )
    assert (processor.is_available, processor.currencies, processor.processor_metadata) == (False, ["chf"], {"a": "1"})
    await connections.update_processor(session, account_id, processor.id, {"metadata": {"a": "", "b": "2"}}, BOX)
    assert processor.processor_metadata == {"b": "2"}
    with pytest.raises(InvalidFields) as raised:
        await connections.update_processor(session, account_id, processor.id, {"secret_key": SECRET_KEY}, BOX)
    assert paths(raised) == {("secret_key",): "extra_forbidden"}


async def test_a_processor_in_a_route_cant_be_deleted(session: AsyncSession, account_id: str) -> None:
    kept = await stripe(session, account_id)
    other = await simulator(session, account_id)
    route = await routes.create_route(session, account_id, name="Main", processors=[RouteStep(kept.id)])
    with pytest.raises(Conflict) as raised:
        await connections.delete_processor(session, account_id, kept.id)
    assert raised.value.code == "processor_in_use"
    assert route.id in raised.value.detail

    await routes.update_route(session, account_id, route.id, {"processors": [RouteStep(other.id)]})
    deleted = await connections.delete_processor(session, account_id, kept.id)
    assert (deleted.is_active, deleted.sealed_credentials, deleted.secret_key_last4) == (False, None, None)
    assert deleted.deleted_at is not None
    with pytest.raises(NotFound):
        await connections.get_processor(session, account_id, kept.id)
    assert await session.scalar(select(Event.type).where(Event.type == "processor.deleted")) == "processor.deleted"
    with pytest.raises(InvalidFields) as invalid:
        await routes.create_route(session, account_id, name="Gone", processors=[RouteStep(kept.id)])
    assert set(paths(invalid)) == {("processors", 0, "processor_id")}


async def test_processors_are_the_accounts_own(session: AsyncSession, account_id: str) -> None:
    other_account = await accounts.create_account(session, name="Other")
    theirs = await simulator(session, other_account.id)
    with pytest.raises(NotFound):
        await connections.get_processor(session, account_id, theirs.id)
    with pytest.raises(NotFound):
        await connections.update_processor(session, account_id, theirs.id, {"name": "Mine"}, BOX)
    with pytest.raises(NotFound):
        await connections.delete_processor(session, account_id, theirs.id)
    with pytest.raises(InvalidFields) as raised:
        await routes.create_route(session, account_id, name="R", processors=[RouteStep(theirs.id)])
    assert paths(raised) == {("processors", 0, "processor_id"): "not_found"}


async def test_the_demo_account_starts_with_a_simulator(session: AsyncSession) -> None:
    account, _ = await create_demo_account(session)
    connected = await session.scalars(select(Processor).where(Processor.account_id == account.id))
    [processor] = connected.all()
    assert (processor.name, processor.type, processor.is_active) == ("Simulator", "simulator", True)
    choices = await routes.processors_for_charge(session, account.id, currency="USD", route_id=None)
    assert [(choice.processor.id, choice.usable) for choice in choices] == [(processor.id, True)]


# --- Processor routes ------------------------------------------------------------------------------------------


async def test_a_route_keeps_its_processors_in_order(session: AsyncSession, account_id: str) -> None:
    first, second = await simulator(session, account_id, "A"), await stripe(session, account_id, "B")
    route = await routes.create_route(
        session,
        account_id,
        name="Main",
        description="Stripe first",
        processors=[RouteStep(second.id, "setup_only"), RouteStep(first.id)],
    )
    assert route.id.startswith("proute_")
    assert [(e.processor_id, e.disposition) for e in route.entries] == [
        (second.id, "setup_only"),
        (first.id, "charge_and_setup"),
    ]
    await session.commit()
    session.expunge_all()
    route = await routes.update_route(
        session, account_id, route.id, {"processors": [RouteStep(first.id), RouteStep(second.id)], "description": None}
    )
    session.expunge_all()
    again = await routes.get_route(session, account_id, route.id, lock=False)
    assert [e.processor_id for e in again.entries] == [first.id, second.id]
    assert again.description is None
    event = await session.scalar(select(Event).where(Event.type == "processor_route.updated"))
    assert event is not None
    assert event.previous_data is not None
    assert set(event.previous_data) == {"description", "processors"}


async def test_route_steps_are_checked(session: AsyncSession, account_id: str) -> None:
    processor = await simulator(session, account_id)
    with pytest.raises(InvalidFields) as raised:
        await routes.create_route(
            session,
            account_id,
            name="R",
            processors=[RouteStep(processor.id), RouteStep("proc_missing"), RouteStep(processor.id, "sometimes")],
        )
    assert paths(raised) == {
        ("processors", 1, "processor_id"): "not_found",
        ("processors", 2, "processor_id"): "value_error",
        ("processors", 2, "disposition"): "enum",
    }
    for steps in ([], [RouteStep(processor.id)] * (routes.MAX_ROUTE_PROCESSORS + 1)):
        with pytest.raises(InvalidFields) as raised:
            await routes.create_route(session, account_id, name="R", processors=steps)
        assert set(paths(raised)) == {("processors",)}


async def test_a_default_route_cant_be_deleted_until_cleared(session: AsyncSession, account_id: str) -> None:
    processor = await simulator(session, account_id)
    route = await routes.create_route(session, account_id, name="R", processors=[RouteStep(processor.id)])
    assert await routes.set_default_route(session, account_id, route.id) == route.id
    with pytest.raises(Conflict) as raised:
        await checkout_routes.delete_processor_route(session, account_id, route.id)
    assert raised.value.code == "route_in_use"
    assert "default" in raised.value.detail

    assert await routes.set_default_route(session, account_id, None) is None
    await checkout_routes.delete_processor_route(session, account_id, route.id)
    with pytest.raises(NotFound):
        await routes.get_route(session, account_id, route.id)
    assert await session.scalar(
        select(Event.type).where(Event.aggregate_id == route.id).order_by(Event.seq.desc())
    ) == ("processor_route.deleted")


async def test_another_accounts_route_cant_be_the_default(session: AsyncSession, account_id: str) -> None:
    other = await accounts.create_account(session, name="Other")
    theirs = await routes.create_route(
        session, other.id, name="R", processors=[RouteStep((await simulator(session, other.id)).id)]
    )
    with pytest.raises(InvalidFields) as raised:
        await routes.set_default_route(session, account_id, theirs.id)
    assert paths(raised) == {("default_processor_route_id",): "not_found"}
    with pytest.raises(NotFound):
        await routes.get_route(session, account_id, theirs.id)
    with pytest.raises(NotFound):
        await checkout_routes.delete_processor_route(session, account_id, theirs.id)


async def test_a_route_a_checkout_session_names_cant_be_deleted(session: AsyncSession, shop: Shop) -> None:
    """Named as the session's own route, or only as the route of one of its cascade tiers."""
    processor = await simulator(session, shop.account_id)
    own, tiered, free = [
        await routes.create_route(session, shop.account_id, name=name, processors=[RouteStep(processor.id)])
        for name in ("own", "tiered", "free")
    ]
    items = [checkout.LineItemSpec(price_id=shop.tshirt)]
    created = await checkout.create_session(
        session,
        shop.account_id,
        checkout.NewCheckoutSession(
            success_url="https://shop.test/ok",
            return_url="https://shop.test/back",
            line_items=items,
            processor_route_id=own.id,
            cascade_tiers=[
                checkout.TierSpec(line_items=items),
                checkout.TierSpec(line_items=items, processor_route_id=tiered.id),
            ],
        ),
    )
    for route in (own, tiered):
        with pytest.raises(Conflict) as raised:
            await checkout_routes.delete_processor_route(session, shop.account_id, route.id)
        assert raised.value.code == "route_in_use"
        assert created.id in raised.value.detail
    await checkout_routes.delete_processor_route(session, shop.account_id, free.id)


# --- Choosing processors for a charge --------------------------------------------------------------------------


async def test_the_sessions_route_wins_then_the_default_then_every_processor(
    session: AsyncSession, account_id: str, frozen_clock: FrozenClock
) -> None:
    connected = []
    for name in ("first", "second", "third"):
        connected.append(await simulator(session, account_id, name))
        frozen_clock.advance(timedelta(seconds=1))
    first, second, third = connected
    default = await routes.create_route(session, account_id, name="D", processors=[RouteStep(second.id)])
    chosen = await routes.create_route(
        session, account_id, name="S", processors=[RouteStep(third.id), RouteStep(first.id, "setup_only")]
    )

    async def order(route_id: str | None) -> list[tuple[str, str]]:
        choices = await routes.processors_for_charge(session, account_id, currency="usd", route_id=route_id)
        return [(choice.processor.name, choice.disposition) for choice in choices]

    assert await order(None) == [
        ("first", "charge_and_setup"),
        ("second", "charge_and_setup"),
        ("third", "charge_and_setup"),
    ]
    await routes.set_default_route(session, account_id, default.id)
    assert await order(None) == [("second", "charge_and_setup")]
    assert await order(chosen.id) == [("third", "charge_and_setup"), ("first", "setup_only")]
    with pytest.raises(NotFound):
        await order("proute_unknown")


async def test_skipped_processors_say_why_and_a_route_is_never_widened(session: AsyncSession, account_id: str) -> None:
    off = await simulator(session, account_id, "off")
    down = await simulator(session, account_id, "down")
    yen_only = await simulator(session, account_id, "yen", currencies=["jpy"])
    await connections.update_processor(session, account_id, off.id, {"is_active": False}, BOX)
    await connections.update_processor(session, account_id, down.id, {"is_available": False}, BOX)
    route = await routes.create_route(
        session, account_id, name="R", processors=[RouteStep(p.id) for p in (off, down, yen_only)]
    )
    choices = await routes.processors_for_charge(session, account_id, currency="EUR", route_id=route.id)
    assert [(c.processor.name, c.skip_reason) for c in choices] == [
        ("off", routes.SKIP_INACTIVE),
        ("down", routes.SKIP_UNAVAILABLE),
        ("yen", routes.SKIP_CURRENCY),
    ]
    assert not any(choice.usable for choice in choices)
    # A fourth processor that would take euros is not borrowed by the route.
    await simulator(session, account_id, "spare")
    again = await routes.processors_for_charge(session, account_id, currency="eur", route_id=route.id)
    assert [c.processor.name for c in again] == ["off", "down", "yen"]


processor_states = st.lists(
    st.tuples(st.booleans(), st.booleans(), st.sets(st.sampled_from(["usd", "eur", "jpy"]), min_size=1)),
    min_size=1,
    max_size=4,
)


@PROPERTY
@given(states=processor_states, currency=st.sampled_from(["usd", "EUR", "jpy"]), data=st.data())
async def test_a_choice_is_usable_exactly_when_active_available_and_in_currency(
    session: AsyncSession,
    account_id: str,
    states: list[tuple[bool, bool, set[str]]],
    currency: str,
    data: st.DataObject,
) -> None:
    """Whatever the processors' states and the route's order, the choices are the route's processors in its
    order, and one is usable exactly when it is active, available and takes the currency."""
    made = []
    for index, (active, available, codes) in enumerate(states):
        processor = await simulator(session, account_id, f"p{index}", currencies=sorted(codes))
        changes = {"is_active": active, "is_available": available}
        made.append(await connections.update_processor(session, account_id, processor.id, changes, BOX))
    order = data.draw(st.permutations(range(len(made))))
    route = await routes.create_route(session, account_id, name="R", processors=[RouteStep(made[i].id) for i in order])
    choices = await routes.processors_for_charge(session, account_id, currency=currency, route_id=route.id)
    assert [choice.processor.id for choice in choices] == [made[i].id for i in order]
    for choice, index in zip(choices, order, strict=True):
        active, available, codes = states[index]
        assert choice.usable == (active and available and currency.lower() in codes)
