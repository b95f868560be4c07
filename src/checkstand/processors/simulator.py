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
challenge (Stripe's ``4000002760003184`` requires authentication on every charge, saved or not). A setup
(:meth:`SimulatorProcessor.setup`, a trial's checkout) saves the card the same way with a charge of nothing.

Refunds are :class:`~checkstand.processors.models.SimulatorRefund` rows, one per (connection, idempotency key) as
charges are. The network itself never gives back more than a charge took: it locks the charge's row, sums what its
succeeded refunds gave back, and refuses (``amount_too_large``) a refund past the rest, whatever its caller checked.
While the connection is switched unavailable a new refund can't be asked for (:class:`OutcomeUnknown`: ask again
later); a key already answered still answers.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from sqlalchemy import func, select, update
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
    OutcomeUnknown,
    PaymentMethod,
    RefundOutcome,
    RefundRequest,
    RefundResult,
    SaveCardRequest,
    SavedCard,
    SetupRequest,
)
from checkstand.processors.cards import UNKNOWN as UNKNOWN_BRAND
from checkstand.processors.cards import card_brand
from checkstand.processors.connections import SIMULATOR
from checkstand.processors.models import Processor, SimulatorCharge, SimulatorRefund

CHARGE_PREFIX: Final = "simch"
REFUND_PREFIX: Final = "simre"
# The network's reasons for refusing a refund, in Stripe's words.
REFUND_NO_SUCH_CHARGE: Final = "resource_missing"
REFUND_CHARGE_NOT_PAID: Final = "charge_not_refundable"
REFUND_AMOUNT_TOO_LARGE: Final = "amount_too_large"
REFUND_CURRENCY_MISMATCH: Final = "currency_mismatch"
SAVED_METHOD_PREFIX: Final = "simpm"
CHALLENGE_PREFIX: Final = "sim3ds"
CHALLENGE_PATH: Final = "/simulator/3ds/"
MAX_IDEMPOTENCY_KEY_LENGTH: Final = 255  # the column's width, on SQLite too

THREE_DS_CARD: Final = "4000002760003184"
# Stripe's 4000000000000341: the card itself pays and saves fine, but every later charge of the saved card is
# declined (a renewal's dunning, in tests). Told apart among saved cards by its last four digits, the only digits a
# saved card keeps; no other test card ends so.
SAVES_THEN_DECLINES_CARD: Final = "4000000000000341"
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
    """What the card network says about a payment method, before anything is stored, and what it tells of the
    card (brand and expiry, kept for a saved card)."""

    status: Outcome
    card_last4: str | None
    decline_code: DeclineCode | None = None
    brand: str | None = None
    exp_month: int | None = None
    exp_year: int | None = None


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
    seen = _Verdict(Outcome.SUCCEEDED, last4, None, card_brand(number), card.exp_month, _full_year(card.exp_year))
    if number == THREE_DS_CARD:
        return dataclasses.replace(seen, status=Outcome.REQUIRES_ACTION)
    decline = DECLINING_CARDS.get(number)
    if decline is not None:
        return dataclasses.replace(seen, status=Outcome.DECLINED, decline_code=decline)
    return seen


def _full_year(exp_year: int) -> int:
    """``MM/YY`` years as four digits, as Stripe reports them."""
    return exp_year + 2000 if 0 <= exp_year < 100 else exp_year


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
                card_brand=verdict.brand,
                card_exp_month=verdict.exp_month,
                card_exp_year=verdict.exp_year,
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

    async def refund(self, request: RefundRequest) -> RefundResult:
        """Refund once per idempotency key; a repeated key answers the first result. The same key with another
        amount is a bug in the caller, so it raises ``ValueError``."""
        if not 0 < len(request.idempotency_key) <= MAX_IDEMPOTENCY_KEY_LENGTH:
            raise ValueError(f"idempotency_key must be 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} characters")
        if request.amount_atom <= 0:
            raise ValueError("a refund's amount_atom must be positive")
        async with self.database.writing() as session:
            # The charge's row lock serialises the refunds of one charge across processes (SQLite's writers already
            # run one at a time), so the sum read below is the sum the new row is checked against.
            charge = await session.scalar(
                select(SimulatorCharge)
                .where(
                    SimulatorCharge.id == request.processor_reference,
                    SimulatorCharge.account_id == self.processor.account_id,
                    SimulatorCharge.processor_id == self.processor.id,
                )
                .with_for_update()
            )
            existing = await self._find_refund(session, request.idempotency_key)
            if existing is not None:
                return _refund_replay(existing, request)
            if not self.processor.is_available:
                raise OutcomeUnknown("The simulator is switched unavailable.")
            refund = SimulatorRefund(
                id=new_id(REFUND_PREFIX),
                account_id=self.processor.account_id,
                processor_id=self.processor.id,
                charge_id=charge.id if charge is not None else None,
                idempotency_key=request.idempotency_key,
                amount_atom=request.amount_atom,
                currency=request.currency.lower(),
                status=RefundOutcome.SUCCEEDED,
                failure_code=await self._refusal(session, charge, request),
            )
            if refund.failure_code is not None:
                refund.status = RefundOutcome.FAILED
            session.add(refund)
            try:
                await session.commit()
            except IntegrityError:
                await session.rollback()
                winner = await self._find_refund(session, request.idempotency_key)
                if winner is None:
                    raise
                return _refund_replay(winner, request)
        return _refund_result(refund)

    async def _refusal(
        self, session: AsyncSession, charge: SimulatorCharge | None, request: RefundRequest
    ) -> str | None:
        """Why the network refuses a refund, or None: it gives back only what a succeeded charge took."""
        if charge is None:
            return REFUND_NO_SUCH_CHARGE
        if charge.status != Outcome.SUCCEEDED:
            return REFUND_CHARGE_NOT_PAID
        if charge.currency != request.currency.lower():
            return REFUND_CURRENCY_MISMATCH
        refunded = await session.scalar(
            select(func.coalesce(func.sum(SimulatorRefund.amount_atom), 0)).where(
                SimulatorRefund.charge_id == charge.id, SimulatorRefund.status == RefundOutcome.SUCCEEDED
            )
        )
        if int(refunded or 0) + request.amount_atom > charge.amount_atom:
            return REFUND_AMOUNT_TOO_LARGE
        return None

    async def _find_refund(self, session: AsyncSession, idempotency_key: str) -> SimulatorRefund | None:
        return await session.scalar(
            select(SimulatorRefund).where(
                SimulatorRefund.account_id == self.processor.account_id,
                SimulatorRefund.processor_id == self.processor.id,
                SimulatorRefund.idempotency_key == idempotency_key,
            )
        )

    async def setup(self, request: SetupRequest) -> ChargeResult:
        """Save the card without charging it: a zero-amount row of the network table, keyed, replayed and decided
        (a 3-D Secure card is challenged now too) as a charge is, whose ``simpm_`` reference later charges as the
        card would."""
        return await self.charge(
            ChargeRequest(
                idempotency_key=request.idempotency_key,
                amount_atom=0,
                currency=request.currency,
                payment_method=request.payment_method,
                description=request.description,
                customer_email=request.customer_email,
                save_payment_method=True,
                return_url=request.return_url,
                three_ds_mode=request.three_ds_mode,
            )
        )

    async def lookup_setup(self, idempotency_key: str) -> ChargeResult | None:
        """A setup is a row of the same table as a charge: the same look-up answers it."""
        return await self.lookup(idempotency_key)

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
                SimulatorCharge.detached_at.is_(None),
            )
            .order_by(SimulatorCharge.created_at, SimulatorCharge.id)
            .limit(1)
        )
        if origin is None:
            # Another connection's, another account's, a detached or a made-up reference: the network knows no
            # such card.
            return _Verdict(Outcome.DECLINED, None, DeclineCode.GENERIC_DECLINE), None
        if origin.card_last4 == SAVES_THEN_DECLINES_CARD[-4:]:
            return _Verdict(Outcome.DECLINED, origin.card_last4, DeclineCode.GENERIC_DECLINE), None
        # Only the 3-D Secure card was ever challenged among the cards that can succeed.
        status = Outcome.REQUIRES_ACTION if origin.challenge_token is not None else Outcome.SUCCEEDED
        verdict = _Verdict(
            status,
            origin.card_last4,
            brand=origin.card_brand,
            exp_month=origin.card_exp_month,
            exp_year=origin.card_exp_year,
        )
        return verdict, method.processor_reference

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
            saved_card=_saved_card(charge) if status is Outcome.SUCCEEDED else None,
            processor_message=_processor_message(charge),
        )

    async def save_card(self, request: SaveCardRequest) -> ChargeResult:
        """Vault the card: a zero-amount verification row of the network table, succeeded without a challenge
        (nobody is present to take one), whose ``simpm_`` reference later charges as the card would. A 3-D Secure
        card's row holds a challenge token that is never handed out: it marks the card as one whose charges ask for
        the challenge. A card the network refuses (bad number, expired, declining) stores a declined row and
        nothing to charge."""
        key = request.idempotency_key
        if not 0 < len(key) <= MAX_IDEMPOTENCY_KEY_LENGTH:
            raise ValueError(f"idempotency_key must be 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} characters")
        async with self.database.writing() as session:
            existing = await self._find(session, key)
            if existing is not None:
                return self._result(existing)
            currency = self.processor.currencies[0] if self.processor.currencies else "usd"
            unavailable = self._unavailable_reason(currency)
            if unavailable is not None:
                return ChargeResult(Outcome.UNAVAILABLE, processor_message=unavailable)
            verdict = _judge_card(request.card)
            saves = verdict.status is not Outcome.DECLINED
            vaulted = SimulatorCharge(
                id=new_id(CHARGE_PREFIX),
                account_id=self.processor.account_id,
                processor_id=self.processor.id,
                idempotency_key=key,
                amount_atom=0,
                currency=currency,
                card_last4=verdict.card_last4,
                status=Outcome.SUCCEEDED if saves else Outcome.DECLINED,
                decline_code=verdict.decline_code,
                challenge_token=new_secret(CHALLENGE_PREFIX) if verdict.status is Outcome.REQUIRES_ACTION else None,
                saved_payment_method=new_id(SAVED_METHOD_PREFIX) if saves else None,
                card_brand=verdict.brand,
                card_exp_month=verdict.exp_month,
                card_exp_year=verdict.exp_year,
            )
            session.add(vaulted)
            try:
                await session.commit()
            except IntegrityError:
                await session.rollback()
                winner = await self._find(session, key)
                if winner is None:
                    raise
                return self._result(winner)
        return self._result(vaulted)

    async def detach(self, processor_reference: str) -> None:
        """The network forgets the saved card: later charges of the reference decline as an unknown card's."""
        async with self.database.writing() as session:
            await session.execute(
                update(SimulatorCharge)
                .where(
                    SimulatorCharge.account_id == self.processor.account_id,
                    SimulatorCharge.processor_id == self.processor.id,
                    SimulatorCharge.saved_payment_method == processor_reference,
                    SimulatorCharge.detached_at.is_(None),
                )
                .values(detached_at=clock.now())
            )
            await session.commit()


def _saved_card(charge: SimulatorCharge) -> SavedCard | None:
    if charge.saved_payment_method is None or charge.card_last4 is None:
        return None
    return SavedCard(
        brand=charge.card_brand or UNKNOWN_BRAND,
        last4=charge.card_last4,
        exp_month=charge.card_exp_month or 0,
        exp_year=charge.card_exp_year or 0,
    )


def _refund_replay(refund: SimulatorRefund, request: RefundRequest) -> RefundResult:
    if refund.amount_atom != request.amount_atom or refund.charge_id not in (request.processor_reference, None):
        raise ValueError(
            f"idempotency key {request.idempotency_key!r} was used to refund {refund.amount_atom} of "
            f"{refund.charge_id}, not {request.amount_atom} of {request.processor_reference}"
        )
    return _refund_result(refund)


def _refund_result(refund: SimulatorRefund) -> RefundResult:
    if refund.failure_code is None:
        return RefundResult(RefundOutcome.SUCCEEDED, processor_refund_id=refund.id)
    return RefundResult(
        RefundOutcome.FAILED,
        processor_refund_id=refund.id,
        failure_code=refund.failure_code,
        failure_message=f"The simulator refused the refund: {refund.failure_code}.",
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
