"""The ``payment-kit`` SDK's refunds against a real server, on both backends: full and partial refunds of a checkout
payment, an over-refund refused with a field message, another account's charge unknown, a subscription's payment
refunded without ending it, and twenty refunds racing over HTTP for more than was paid."""

from __future__ import annotations

import asyncio
import json

import pytest
from payment_kit import AsyncPaymentKit, PaymentKit
from payment_kit.core.api_error import ApiError
from payment_kit.errors.unprocessable_entity_error import UnprocessableEntityError
from sqlalchemy import select

from checkstand.payments.models import Payment, PaymentCharge, Refund
from checkstand.processors.models import SimulatorRefund
from tests.compat.paid_checkouts import Paid, pay
from tests.support import Server, connect_url


def charge_of(client: PaymentKit, account_id: str, paid: Paid) -> str:
    """The id of the payment attempt (charge) that took the checkout's money, as the SDK finds it."""
    filter_ = json.dumps({"checkout_session_id": paid.checkout_session_id})
    [intent] = client.payments_intents.list_intents(account_id, filter=filter_).items
    [attempt] = client.payments_payment_attempts.list_attempts_by_intent(account_id, intent.id).items
    return attempt.id


def test_partial_then_full_refunds_and_an_over_refund_refused(
    paymentkit: tuple[PaymentKit, str], server: Server
) -> None:
    client, account_id = paymentkit
    paid = pay(server, account_id, amount_atom=1999)
    charge_id = charge_of(client, account_id, paid)
    refunds = client.payments_refunds

    part = refunds.create_refund(
        account_id,
        payment_attempt_external_id=charge_id,
        amount_atom=500,
        reason="requested_by_customer",
        metadata={"ticket": "T-9"},
        idempotency_key="refund-part-1",
    )
    replayed = refunds.create_refund(
        account_id,
        payment_attempt_external_id=charge_id,
        amount_atom=500,
        reason="requested_by_customer",
        metadata={"ticket": "T-9"},
        idempotency_key="refund-part-1",
    )
    with pytest.raises(UnprocessableEntityError) as over:
        refunds.create_refund(account_id, payment_attempt_external_id=charge_id, amount_atom=1500)
    rest = refunds.create_refund(account_id, payment_attempt_external_id=charge_id)

    assert (part.charge_id, part.amount_atom, part.currency, part.status, part.reason) == (
        charge_id,
        500,
        "usd",
        "succeeded",
        "requested_by_customer",
    )
    assert part.metadata == {"ticket": "T-9"}
    assert part.processed_at is not None
    assert replayed.id == part.id
    [problem] = over.value.body.detail or []
    assert (problem.loc, problem.type) == (["body", "amount_atom"], "refund_exceeds_charge")
    assert "1499 left" in problem.msg
    assert (rest.amount_atom, rest.status) == (1499, "succeeded")

    assert refunds.get_refund(account_id, part.id).amount_atom == 500
    by_charge = refunds.list_refunds_by_charge(account_id, charge_id)
    assert ([r.id for r in by_charge.items], by_charge.total) == ([rest.id, part.id], 2)
    assert [r.id for r in refunds.list_refunds_by_attempt(account_id, charge_id)] == [rest.id, part.id]
    succeeded = refunds.list_refunds_by_charge(account_id, charge_id, filter=json.dumps({"status": "succeeded"}))
    assert succeeded.total == 2

    [intent] = client.payments_intents.list_intents(account_id).items
    assert intent.model_extra is not None
    assert intent.model_extra["amount_refunded_atom"] == 1999
    [attempt] = client.payments_payment_attempts.list_attempts_by_intent(account_id, intent.id).items
    assert (attempt.refunded_amount_atom, attempt.refunded) == (1999, True)
    with pytest.raises(ApiError) as nothing_left:
        refunds.create_refund(account_id, payment_attempt_external_id=charge_id)
    assert nothing_left.value.status_code == 422


def test_another_accounts_charge_and_refund_are_not_found(paymentkit: tuple[PaymentKit, str], server: Server) -> None:
    client, account_id = paymentkit
    other_id, other_secret = server.new_account("Other")
    other = PaymentKit(base_url=server.base_url, token=other_secret, timeout=30)
    theirs = charge_of(other, other_id, pay(server, other_id))
    their_refund = other.payments_refunds.create_refund(other_id, payment_attempt_external_id=theirs, amount_atom=100)

    for call in (
        lambda: client.payments_refunds.create_refund(account_id, payment_attempt_external_id=theirs),
        lambda: client.payments_refunds.list_refunds_by_charge(account_id, theirs),
        lambda: client.payments_refunds.list_refunds_by_attempt(account_id, theirs),
        lambda: client.payments_refunds.get_refund(account_id, their_refund.id),
    ):
        with pytest.raises(ApiError) as missing:
            call()
        assert missing.value.status_code == 404
    assert other.payments_refunds.get_refund(other_id, their_refund.id).amount_atom == 100


def test_refunding_a_subscriptions_payment_leaves_it_active(paymentkit: tuple[PaymentKit, str], server: Server) -> None:
    client, account_id = paymentkit
    paid = pay(server, account_id, amount_atom=9000, yearly=True)
    charge_id = charge_of(client, account_id, paid)
    [subscription] = client.subscriptions.list_subscriptions(account_id).items
    assert subscription.state == "active"

    refund = client.payments_refunds.create_refund(account_id, payment_attempt_external_id=charge_id)

    assert (refund.status, refund.amount_atom) == ("succeeded", 9000)
    assert client.subscriptions.get_subscription(account_id, subscription.id).state == "active"


def test_twenty_racing_partial_refunds_never_pass_the_amount_paid(server: Server) -> None:
    """Twenty refunds of 150 of a 1999 payment, sent at once over HTTP: 13 fit. Whatever interleaving the server
    sees, the total refunded never passes 1999 and is exactly the sum of the refunds that succeeded, in Checkstand's
    rows and in the simulator's "network" alike."""
    account_id, secret = server.new_account()
    client = PaymentKit(base_url=server.base_url, token=secret, timeout=30)
    charge_id = charge_of(client, account_id, pay(server, account_id, amount_atom=1999))

    async def race() -> list[str]:
        racing = AsyncPaymentKit(base_url=server.base_url, token=secret, timeout=60)

        async def one() -> str:
            try:
                refund = await racing.payments_refunds.create_refund(
                    account_id, payment_attempt_external_id=charge_id, amount_atom=150
                )
            except UnprocessableEntityError:
                return "refused"
            return str(refund.status)

        return list(await asyncio.gather(*(one() for _ in range(20))))

    outcomes = asyncio.run(race())

    assert sorted(outcomes) == ["refused"] * 7 + ["succeeded"] * 13
    charged, payment_refunded, refunds, network = asyncio.run(_rows(server, charge_id))
    succeeded = [amount for amount, status in refunds if status == "succeeded"]
    assert charged == payment_refunded == sum(succeeded) == 13 * 150 <= 1999
    assert sorted(network) == [(150, "succeeded")] * 13


async def _rows(server: Server, charge_id: str) -> tuple[int, int, list[tuple[int, str]], list[tuple[int, str]]]:
    database = connect_url(server.database_url)
    try:
        async with database.reading() as session:
            charge = await session.get(PaymentCharge, charge_id)
            assert charge is not None
            payment = await session.get(Payment, charge.payment_id)
            assert payment is not None
            refunds = (
                await session.execute(select(Refund.amount_atom, Refund.status).where(Refund.charge_id == charge_id))
            ).all()
            network = (
                await session.execute(
                    select(SimulatorRefund.amount_atom, SimulatorRefund.status).where(
                        SimulatorRefund.account_id == charge.account_id
                    )
                )
            ).all()
            return (
                charge.amount_refunded_atom,
                payment.amount_refunded_atom,
                [(a, s) for a, s in refunds],
                [(a, s) for a, s in network],
            )
    finally:
        await database.dispose()
