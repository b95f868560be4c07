"""Saved payment methods: a recurring checkout saves the card and makes it the subscription's default, a card sent
by the merchant's server is vaulted at the processor and never stored, and a deleted method is charged no more."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.core.errors import InvalidFields
from checkstand.core.listing import ListParams
from checkstand.core.pagination import PageParams
from checkstand.customers import service as customers
from checkstand.db import Base, Database
from checkstand.events.models import Event
from checkstand.payment_methods import service as methods
from checkstand.payment_methods.models import SavedPaymentMethod
from checkstand.payments import flow as payment_flow
from checkstand.payments import saved_methods
from checkstand.payments.models import SUCCEEDED, Payment
from checkstand.processors.base import ChargeRequest, Outcome, PaymentMethod, SavedCard
from checkstand.processors.cards import card_brand
from checkstand.processors.models import SimulatorCharge
from checkstand.processors.simulator import SimulatorProcessor
from checkstand.subscriptions.models import Subscription
from tests.payments import flow
from tests.payments.flow import card, paying
from tests.shop import Shop

# A Visa debit test card that no other test uses, so finding it anywhere can only mean it was stored.
SECRET_NUMBER = "4000056655665556"


@pytest.mark.parametrize(
    ("number", "brand"),
    [
        ("4242424242424242", "visa"),
        ("5555555555554444", "mastercard"),
        ("2223003122003222", "mastercard"),
        ("378282246310005", "amex"),
        ("6011111111111117", "discover"),
        ("6221260000000000", "discover"),
        ("6200000000000005", "unionpay"),
        ("3056930009020004", "diners"),
        ("3566002020360505", "jcb"),
        ("9999999999999995", "unknown"),
        ("", "unknown"),
    ],
)
def test_the_brand_is_read_from_the_numbers_prefix(number: str, brand: str) -> None:
    assert card_brand(number) == brand


async def _count(session: AsyncSession, model: type[SavedPaymentMethod | SimulatorCharge], account_id: str) -> int:
    query = select(func.count()).select_from(model).where(model.account_id == account_id)
    return int(await session.scalar(query) or 0)


async def _events(session: AsyncSession, account_id: str, kind: str) -> list[Event]:
    found = await session.scalars(
        select(Event).where(Event.account_id == account_id, Event.type == kind).order_by(Event.created_at)
    )
    return list(found)


async def test_a_recurring_checkout_saves_the_card_as_the_subscriptions_default(
    session: AsyncSession, database: Database, shop: Shop
) -> None:
    processor = await flow.simulator(session, shop.account_id)
    created = await flow.open_session(session, shop.account_id, [shop.yearly])

    attempt = await payment_flow.confirm(flow.gateway(database), created.secure_token, paying(card("5555555555554444")))

    assert attempt.state == SUCCEEDED
    async with database.reading() as fresh:
        subscription = await fresh.scalar(select(Subscription).where(Subscription.checkout_session_id == created.id))
        assert subscription is not None
        [method] = await methods.list_by_customer(fresh, shop.account_id, subscription.customer_id)
        assert (method.brand, method.last4, method.exp_month, method.exp_year) == ("mastercard", "4444", 12, 2099)
        assert (method.processor_id, method.processor_reference) == (
            processor.id,
            subscription.payment_method_reference,
        )
        assert method.name == "Mastercard ending 4444"
        assert subscription.default_payment_method_id == method.id
        payment = await fresh.scalar(select(Payment).where(Payment.checkout_session_id == created.id))
        assert payment is not None
        assert payment.payment_method_id == method.id
        attached = await _events(fresh, shop.account_id, "payment_method.attached")
        assert [event.aggregate_id for event in attached] == [method.id]
        # The subscription's event embeds the method its renewals charge.
        [sub_created] = await _events(fresh, shop.account_id, "subscription.created")
        assert sub_created.data["payment_method"]["id"] == method.id


async def test_a_one_time_checkout_saves_no_payment_method(
    session: AsyncSession, database: Database, shop: Shop
) -> None:
    await flow.simulator(session, shop.account_id)
    created = await flow.open_session(session, shop.account_id, [shop.tshirt])

    attempt = await payment_flow.confirm(flow.gateway(database), created.secure_token, paying())

    assert attempt.state == SUCCEEDED
    async with database.reading() as fresh:
        assert await _count(fresh, SavedPaymentMethod, shop.account_id) == 0


async def _customer(session: AsyncSession, account_id: str) -> str:
    customer = await customers.create_customer(session, account_id, email="grace@example.test")
    await session.commit()
    return customer.id


async def _create_card(
    database: Database, account_id: str, customer_id: str, number: str = SECRET_NUMBER, **fields: str
) -> SavedPaymentMethod:
    values = {"exp_month": "12", "exp_year": "2099", "cvc": "123", **fields}
    async with database.writing() as request:
        method = await saved_methods.create_credit_card(
            request,
            flow.gateway(database),
            account_id,
            customer_id=customer_id,
            number=number,
            exp_month=values["exp_month"],
            exp_year=values["exp_year"],
            cvc=values["cvc"],
        )
        await request.commit()
    return method


async def _rows_containing(session: AsyncSession, needle: str) -> list[str]:
    """Every table whose rows, as text, contain ``needle``: the whole database, columns and JSON documents alike."""
    found = []
    for table in Base.metadata.sorted_tables:
        rows = (await session.execute(select(table))).all()
        if any(needle in str(tuple(row)) for row in rows):
            found.append(table.name)
    return found


async def test_a_card_sent_by_the_server_is_vaulted_and_its_number_never_stored(
    session: AsyncSession, database: Database, shop: Shop
) -> None:
    processor = await flow.simulator(session, shop.account_id)
    customer_id = await _customer(session, shop.account_id)

    method = await _create_card(database, shop.account_id, customer_id, "4000 0566 5566 5556", exp_year="99")

    assert (method.brand, method.last4, method.exp_month, method.exp_year) == ("visa", "5556", 12, 2099)
    assert (method.customer_id, method.processor_id, method.is_active) == (customer_id, processor.id, True)
    assert method.processor_reference.startswith("simpm_")
    async with database.reading() as fresh:
        assert [m.id for m in await methods.list_by_customer(fresh, shop.account_id, customer_id)] == [method.id]
        assert await _rows_containing(fresh, SECRET_NUMBER) == []
        assert await _rows_containing(fresh, SECRET_NUMBER[:12]) == []
        assert await _rows_containing(fresh, method.processor_reference) != []  # the search does find what is kept
        [event] = await _events(fresh, shop.account_id, "payment_method.attached")
        assert SECRET_NUMBER not in str(event.data)
        assert event.data["last4"] == "5556"
    # The vaulted card charges as the card would, by its reference alone.
    simulator = SimulatorProcessor(database, processor, public_url=flow.PUBLIC_URL)
    renewal = await simulator.charge(
        ChargeRequest("renewal-1", 900, "usd", PaymentMethod(processor_reference=method.processor_reference))
    )
    assert renewal.outcome is Outcome.SUCCEEDED


@pytest.mark.parametrize(
    ("fields", "paths"),
    [
        ({"number": "4242424242424241"}, [("card_number",)]),
        ({"number": "42"}, [("card_number",)]),
        ({"exp_year": "2020"}, [("expiry_year",)]),
        ({"exp_month": "13"}, [("expiry_month",)]),
        ({"cvc": "12"}, [("cvv",)]),
        ({"customer_id": "cus_nobody"}, [("customer_id",)]),
        (
            {"number": "1", "exp_year": "2001", "customer_id": "cus_x"},
            [("card_number",), ("expiry_year",), ("customer_id",)],
        ),
        # The card is a good number, but the network declines it: nothing is saved.
        ({"number": "4000000000000002"}, [("card_number",)]),
    ],
)
async def test_a_card_that_cant_be_saved_is_refused_by_field_and_nothing_is_stored(
    session: AsyncSession, database: Database, shop: Shop, fields: dict[str, str], paths: list[tuple[str, ...]]
) -> None:
    await flow.simulator(session, shop.account_id)
    fields = dict(fields)  # the parameters are shared by both backends' runs
    customer_id = fields.pop("customer_id", None) or await _customer(session, shop.account_id)
    number = fields.pop("number", SECRET_NUMBER)

    with pytest.raises(InvalidFields) as refused:
        await _create_card(database, shop.account_id, customer_id, number, **fields)

    assert [problem.path for problem in refused.value.problems] == paths
    async with database.reading() as fresh:
        assert await _count(fresh, SavedPaymentMethod, shop.account_id) == 0
        assert await _events(fresh, shop.account_id, "payment_method.attached") == []


async def test_deleting_detaches_once_and_the_network_charges_it_no_more(
    session: AsyncSession, database: Database, shop: Shop
) -> None:
    processor = await flow.simulator(session, shop.account_id)
    customer_id = await _customer(session, shop.account_id)
    method = await _create_card(database, shop.account_id, customer_id)

    for _ in range(2):  # deleting a deleted method changes nothing
        async with database.writing() as request:
            await saved_methods.detach(request, flow.gateway(database), shop.account_id, method.id)
            await request.commit()

    async with database.reading() as fresh:
        detached = await methods.get_payment_method(fresh, shop.account_id, method.id)
        assert detached.is_active is False
        assert await methods.list_by_customer(fresh, shop.account_id, customer_id) == []
        listed = await methods.list_payment_methods(fresh, shop.account_id, _all(), include_inactive=True)
        assert [m.id for m in listed.items] == [method.id]
        assert [e.aggregate_id for e in await _events(fresh, shop.account_id, "payment_method.detached")] == [method.id]
    simulator = SimulatorProcessor(database, processor, public_url=flow.PUBLIC_URL)
    charge = await simulator.charge(
        ChargeRequest("after-detach", 900, "usd", PaymentMethod(processor_reference=method.processor_reference))
    )
    assert charge.outcome is Outcome.DECLINED


async def test_saving_one_processor_reference_twice_is_one_method(
    session: AsyncSession, database: Database, shop: Shop
) -> None:
    processor = await flow.simulator(session, shop.account_id)
    customer_id = await _customer(session, shop.account_id)
    first = await _create_card(database, shop.account_id, customer_id)
    saved_card = SavedCard("visa", "5556", 12, 2099)

    again = await methods.save_payment_method(
        session,
        shop.account_id,
        customer_id=customer_id,
        processor_id=processor.id,
        processor_reference=first.processor_reference,
        card=saved_card,
    )
    await session.commit()

    assert again.id == first.id
    assert await _count(session, SavedPaymentMethod, shop.account_id) == 1


def _all() -> ListParams:
    return ListParams(page=PageParams(limit=100, offset=0))
