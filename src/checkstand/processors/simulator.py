"""The built-in payment simulator: it answers like a card network would, deterministically, by card number.

Cards behave as Stripe's test cards do, so a test written against the simulator reads like one written against
Stripe: ``4242424242424242`` succeeds, ``4000000000000002`` is a generic decline, ``...9995`` insufficient funds,
``...9987`` a lost card, ``...9979`` a stolen card, ``...0069`` an expired card, ``...0127`` a wrong CVC, ``...0119``
a processing error (the one retryable decline) and ``4000002760003184`` asks for 3-D Secure on every charge. Any
other number that passes the Luhn check succeeds. Before the table, the card itself is checked: a number of the
wrong length (12 to 19 digits, as ISO/IEC 7812 allows) or failing the Luhn check is ``incorrect_number``, an expiry
before this month (by :func:`checkstand.core.clock.now`; a month outside 1..12 can't be valid either) is
``expired_card``, and a CVC that isn't 3 or 4 digits is ``incorrect_cvc``.

Every answer from the card network is one :class:`~checkstand.processors.models.SimulatorCharge` row per
(connection, idempotency key). The row is inserted first and the unique constraint decides between concurrent
calls with one key: the loser reads the winner's row and answers the same. A repeated key therefore never charges
twice, even across processes. Only ``unavailable`` leaves no row: nothing reached the "network".

That table is the simulator's "network", so it is reached as a real processor is: in short transactions of the
simulator's own on the :class:`~checkstand.db.Database`, never in a caller's. The payment flow calls a processor
with no transaction open, and the simulator behaves no differently.

The connection's ``is_available`` switch off (or a deactivated or disconnected connection), or a currency it
doesn't take, answers ``unavailable`` for a *new* key. A key already charged still answers its stored result: a
caller recovering after a crash must learn that the customer was charged, or it would try the next processor and
charge them twice.

3-D Secure: the challenge is a page of Checkstand's own (:mod:`checkstand.pages.simulator_3ds`), keyed by the
charge's ``challenge_token``, where the customer approves or fails; :meth:`SimulatorProcessor.confirm` then tells
the result. ``three_ds_mode`` changes nothing here: with ``prefer_non_3ds`` the 3-D Secure card still requires its
challenge, as the real card would, and it is the route logic that decides to try another processor first.

``save_payment_method`` on a successful charge returns a ``simpm_...`` reference that a later charge on the same
connection accepts as ``PaymentMethod(processor_reference=...)``. It behaves as the saved card did: it keeps its
last four digits, a saved succeeding card keeps succeeding, and a saved 3-D Secure card keeps asking for its
challenge (Stripe's ``4000002760003184`` requires authentication on every charge, saved or not).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.core import clock
from checkstand.core.errors import Conflict
from checkstand.core.ids import new_id, new_secret
from checkstand.db import Database
from checkstand.processors.base import (
    CardDetails,
    ChargeRequest,
    ChargeResult,
    DeclineCode,
    Outcome,
    PaymentMethod,
)
from checkstand.processors.connections import SIMULATOR
from checkstand.processors.models import Processor, SimulatorCharge

CHARGE_PREFIX: Final = "simch"
SAVED_METHOD_PREFIX: Final = "simpm"
CHALLENGE_PREFIX: Final = "sim3ds"
CHALLENGE_PATH: Final = "/simulator/3ds/"
MAX_IDEMPOTENCY_KEY_LENGTH: Final = 255  # the column's width, on SQLite too

THREE_DS_CARD: Final = "4000002760003184"
DECLINING_CARDS: Final[Mapping[str, DeclineCode]] = {
    "4000000000000002": DeclineCode.GENERIC_DECLINE,
    "4000000000009995": DeclineCode.INSUFFICIENT_FUNDS,
    "4000000000009987": DeclineCode.LOST_CARD,
    "4000000000009979": DeclineCode.STOLEN_CARD,
    "4000000000000069": DeclineCode.EXPIRED_CARD,
    "4000000000000127": DeclineCode.INCORRECT_CVC,
    "4000000000000119": DeclineCode.PROCESSING_ERROR,
}
TEST_CARDS: Final = frozenset({THREE_DS_CARD, *DECLINING_CARDS})

_NUMBER = re.compile(r"[0-9]{12,19}")
_CVC = re.compile(r"[0-9]{3,4}")
# Spaces and dashes are how people write card numbers; they carry no digits.
_NUMBER_SEPARATORS = re.compile(r"[ -]")
# A return URL goes into a Location header and a Content-Security-Policy: a plain host (or IP) and port, nothing
# that could end a header directive.
_HOST = re.compile(r"(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")


def passes_luhn(number: str) -> bool:
    """Whether ``number`` is 12 to 19 digits with a valid Luhn check digit, as every real card number is."""
    if not _NUMBER.fullmatch(number):
        return False
    total = 0
    for position, char in enumerate(reversed(number)):
        digit = int(char)
        if position % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def is_expired(exp_month: int, exp_year: int) -> bool:
    """A card is good through the last day of its expiry month. Two-digit years are read as card forms print
    them (``MM/YY``)."""
    if not 1 <= exp_month <= 12:
        return True
    year = exp_year + 2000 if 0 <= exp_year < 100 else exp_year
    today = clock.now()
    return (year, exp_month) < (today.year, today.month)


@dataclass(frozen=True)
class _Verdict:
    """What the card network says about a payment method, before anything is stored."""

    status: Outcome
    card_last4: str | None
    decline_code: DeclineCode | None = None


def _judge_card(card: CardDetails) -> _Verdict:
    """The network's answer for a card, from its number, expiry and CVC alone (the same card always answers the
    same, whatever the amount)."""
    number = _NUMBER_SEPARATORS.sub("", card.number)
    last4 = number[-4:] if number.isascii() and number.isdigit() else None
    if not passes_luhn(number):
        return _Verdict(Outcome.DECLINED, last4, DeclineCode.INCORRECT_NUMBER)
    if is_expired(card.exp_month, card.exp_year):
        return _Verdict(Outcome.DECLINED, last4, DeclineCode.EXPIRED_CARD)
    if not _CVC.fullmatch(card.cvc):
        return _Verdict(Outcome.DECLINED, last4, DeclineCode.INCORRECT_CVC)
    if number == THREE_DS_CARD:
        return _Verdict(Outcome.REQUIRES_ACTION, last4)
    decline = DECLINING_CARDS.get(number)
    if decline is not None:
        return _Verdict(Outcome.DECLINED, last4, decline)
    return _Verdict(Outcome.SUCCEEDED, last4)


class SimulatorProcessor:
    """The simulator behind :class:`~checkstand.processors.base.ProcessorAdapter`, for one connection.

    ``public_url`` is the base of the challenge page's URL handed to customers (``Settings.resolved_public_url``).
    Each call reads or writes the charges in a short transaction of its own on ``database``."""

    def __init__(self, database: Database, processor: Processor, *, public_url: str) -> None:
        if processor.type != SIMULATOR:
            raise ValueError(f"processor {processor.id!r} is a {processor.type} connection, not a simulator")
        self.database = database
        self.processor = processor
        self.public_url = public_url.rstrip("/")

    async def charge(self, request: ChargeRequest) -> ChargeResult:
        """Charge once per idempotency key; a repeated key answers the first result. The same key with another
        amount or currency is a bug in the caller, so it raises ``ValueError`` rather than guessing."""
        _check_request(request)
        async with self.database.writing() as session:
            existing = await self._find(session, request.idempotency_key)
            if existing is not None:
                return self._replay(existing, request)
            unavailable = self._unavailable_reason(request.currency)
            if unavailable is not None:
                return ChargeResult(Outcome.UNAVAILABLE, processor_message=unavailable)

            verdict, reused_method = await self._judge(session, request.payment_method)
            saved_method: str | None = None
            # Kept from the start even while a challenge is pending, so approving it saves the card; it is shown
            # only once the charge succeeds, and only a succeeded charge's reference can be charged again.
            if request.save_payment_method and verdict.status is not Outcome.DECLINED:
                saved_method = reused_method or new_id(SAVED_METHOD_PREFIX)
            charge = SimulatorCharge(
                id=new_id(CHARGE_PREFIX),
                account_id=self.processor.account_id,
                processor_id=self.processor.id,
                idempotency_key=request.idempotency_key,
                amount_atom=request.amount_atom,
                currency=request.currency.lower(),
                card_last4=verdict.card_last4,
                status=verdict.status,
                decline_code=verdict.decline_code,
                challenge_token=new_secret(CHALLENGE_PREFIX) if verdict.status is Outcome.REQUIRES_ACTION else None,
                return_url=request.return_url,
                saved_payment_method=saved_method,
            )
            session.add(charge)
            try:
                await session.commit()
            except IntegrityError:
                # Another call with this key committed first (PostgreSQL lets both look before either inserts):
                # the unique constraint decided, and the winner's row answers.
                await session.rollback()
                winner = await self._find(session, request.idempotency_key)
                if winner is None:
                    raise
                return self._replay(winner, request)
        return self._result(charge)

    async def lookup(self, idempotency_key: str) -> ChargeResult | None:
        """The stored result for a key, whatever the outage switch says: recovery must learn what was charged."""
        async with self.database.reading() as session:
            charge = await self._find(session, idempotency_key)
        return None if charge is None else self._result(charge)

    async def confirm(self, processor_reference: str) -> ChargeResult:
        """The result of a charge once its challenge is decided; ``requires_action`` again while it isn't."""
        async with self.database.reading() as session:
            charge = await session.scalar(
                select(SimulatorCharge).where(
                    SimulatorCharge.id == processor_reference,
                    SimulatorCharge.account_id == self.processor.account_id,
                    SimulatorCharge.processor_id == self.processor.id,
                )
            )
        if charge is None:
            raise ValueError(f"no simulator charge {processor_reference!r} on processor {self.processor.id!r}")
        return self._result(charge)

    async def _find(self, session: AsyncSession, idempotency_key: str) -> SimulatorCharge | None:
        return await session.scalar(
            select(SimulatorCharge).where(
                SimulatorCharge.account_id == self.processor.account_id,
                SimulatorCharge.processor_id == self.processor.id,
                SimulatorCharge.idempotency_key == idempotency_key,
            )
        )

    def _unavailable_reason(self, currency: str) -> str | None:
        processor = self.processor
        if not processor.is_available:
            return "The simulator is switched unavailable."
        if not processor.is_active or processor.deleted_at is not None:
            return "The simulator connection is deactivated."
        if currency.lower() not in processor.currencies:
            return f"The simulator connection doesn't take {currency.upper()}."
        return None

    async def _judge(self, session: AsyncSession, method: PaymentMethod) -> tuple[_Verdict, str | None]:
        """The verdict for a payment method, and the saved method it was (if it was one)."""
        if method.card is not None:
            return _judge_card(method.card), None
        assert method.processor_reference is not None  # _check_request refuses a method with neither
        origin = await session.scalar(
            select(SimulatorCharge)
            .where(
                SimulatorCharge.saved_payment_method == method.processor_reference,
                SimulatorCharge.account_id == self.processor.account_id,
                SimulatorCharge.processor_id == self.processor.id,
                SimulatorCharge.status == Outcome.SUCCEEDED,
            )
            .order_by(SimulatorCharge.created_at, SimulatorCharge.id)
            .limit(1)
        )
        if origin is None:
            # Another connection's, another account's or a made-up reference: the network knows no such card.
            return _Verdict(Outcome.DECLINED, None, DeclineCode.GENERIC_DECLINE), None
        # Only the 3-D Secure card was ever challenged among the cards that can succeed.
        status = Outcome.REQUIRES_ACTION if origin.challenge_token is not None else Outcome.SUCCEEDED
        return _Verdict(status, origin.card_last4), method.processor_reference

    def _replay(self, charge: SimulatorCharge, request: ChargeRequest) -> ChargeResult:
        if charge.amount_atom != request.amount_atom or charge.currency != request.currency.lower():
            raise ValueError(
                f"idempotency key {request.idempotency_key!r} was used for {charge.amount_atom} "
                f"{charge.currency}, not {request.amount_atom} {request.currency.lower()}"
            )
        return self._result(charge)

    def _result(self, charge: SimulatorCharge) -> ChargeResult:
        status = Outcome(charge.status)
        return ChargeResult(
            outcome=status,
            processor_reference=charge.id,
            decline_code=charge.decline_code,
            action_url=(
                f"{self.public_url}{CHALLENGE_PATH}{charge.challenge_token}"
                if status is Outcome.REQUIRES_ACTION
                else None
            ),
            saved_payment_method=charge.saved_payment_method if status is Outcome.SUCCEEDED else None,
            processor_message=_processor_message(charge),
        )


def _check_request(request: ChargeRequest) -> None:
    """Mistakes of the calling code, not of the customer: they raise instead of declining."""
    if not 0 < len(request.idempotency_key) <= MAX_IDEMPOTENCY_KEY_LENGTH:
        raise ValueError(f"idempotency_key must be 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} characters")
    if request.amount_atom < 0:
        raise ValueError("amount_atom must not be negative")
    method = request.payment_method
    if (method.card is None) == (method.processor_reference is None):
        raise ValueError("a payment method is either a card or a processor reference")
    if request.return_url is not None:
        parts = urlsplit(request.return_url)
        if parts.scheme not in ("http", "https") or not _HOST.fullmatch(parts.netloc):
            raise ValueError("return_url must be an absolute http(s) URL")


def _processor_message(charge: SimulatorCharge) -> str | None:
    """The network's words for the merchant's logs, rebuilt from the row so a replay says the same."""
    if charge.decline_code is None:
        return None
    what = f"the card ending {charge.card_last4}" if charge.card_last4 else "the payment method"
    return f"The simulator declined {what}: {charge.decline_code}."


async def find_challenge(session: AsyncSession, challenge_token: str) -> SimulatorCharge | None:
    """The charge a challenge page belongs to. Public, so keyed by the secret token alone: whoever holds the
    token is the customer the challenge was sent to."""
    return await session.scalar(select(SimulatorCharge).where(SimulatorCharge.challenge_token == challenge_token))


async def decide_challenge(session: AsyncSession, charge: SimulatorCharge, *, approve: bool) -> SimulatorCharge:
    """The customer's answer to a challenge: the charge succeeds, or is declined with ``authentication_failed``.

    A challenge is decided once. The update is conditional on the charge still waiting, so of two concurrent
    answers exactly one applies and the other gets ``Conflict``."""
    decided = await session.execute(
        update(SimulatorCharge)
        .where(
            SimulatorCharge.id == charge.id,
            SimulatorCharge.account_id == charge.account_id,
            SimulatorCharge.status == Outcome.REQUIRES_ACTION,
        )
        .values(
            status=Outcome.SUCCEEDED if approve else Outcome.DECLINED,
            decline_code=None if approve else DeclineCode.AUTHENTICATION_FAILED,
        )
    )
    await session.refresh(charge)
    if not decided.rowcount:  # type: ignore[attr-defined]
        raise Conflict("This challenge was already decided.", code="challenge_already_decided")
    return charge
