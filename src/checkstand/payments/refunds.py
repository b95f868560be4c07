"""Refunds: money given back from one charge (the SDK's payment attempt), in full or in part, through the processor
that took it.

The sum of a charge's refunds can never pass what it took, however many refunds race. A refund is made in three
steps, as a charge is (:mod:`checkstand.payments.flow`):

1. Under the charge's row lock, what is left to refund is checked and the refund's amount *reserved* on the charge
   (``PaymentCharge.amount_refunded_atom``), and the refund committed as ``pending`` with its idempotency key. A
   concurrent refund waits for the lock and sees the reservation, so together they can't exceed the charge.
2. The processor is asked with no transaction open (a slow processor holds no lock).
3. Its answer is settled in a new short transaction: ``succeeded`` counts the amount on the payment
   (``Payment.amount_refunded_atom``); ``failed`` gives the reservation back.

A process dying between 1 and 3, or a processor that can't say (:class:`OutcomeUnknown`), leaves the refund
``pending`` with a lease; once the lease runs out the worker's recovery (:func:`recover_pending_refunds`) asks the
processor again with the same key, which refunds at most once per key, and settles. Settling is conditional on the
refund still being pending, so of two settlements (a slow request and recovery) one applies.

A refund changes nothing else: the subscription a payment started goes on as it was.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Final

from sqlalchemy import Select, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.core import clock
from checkstand.core.errors import BusinessRuleViolation, FieldProblem, InvalidFields
from checkstand.core.ids import new_id
from checkstand.core.listing import ListParams, ListSpec, apply_list_params
from checkstand.core.lookup import locked, one_or_not_found
from checkstand.core.pagination import Page, paginate
from checkstand.events.service import record_event
from checkstand.payments.adapters import Gateway, adapter_for, load_processor
from checkstand.payments.models import Payment, PaymentCharge, Refund
from checkstand.processors.base import OutcomeUnknown, RefundOutcome, RefundRequest, RefundResult

REFUND_PREFIX: Final = "re"
# A refund's states (the SDK's RefundStatus).
REFUND_PENDING: Final = "pending"
REFUND_SUCCEEDED: Final = "succeeded"
REFUND_FAILED: Final = "failed"
# Only a charge that took the money can give it back.
REFUNDABLE_CHARGE: Final = "succeeded"
OUT_OF_BAND_REASON: Final = "manual_out_of_band"
# How long a refund staged inside another transaction is left to the process that staged it before recovery may
# make it: that process makes it right after its commit.
STAGED_REFUND_LEASE: Final = timedelta(minutes=2)
RECOVERY_BATCH: Final = 50

REFUND_LIST: Final = ListSpec(
    filterable={"status": Refund.status, "reason": Refund.reason, "currency": Refund.currency},
    sortable={"created_at": Refund.created_at, "amount_atom": Refund.amount_atom},
    created_at=Refund.created_at,
    tiebreak=Refund.id,
)


@dataclass(frozen=True)
class NewRefund:
    """A merchant's refund of one charge. ``amount_atom`` None refunds all that is left; ``currency`` None is the
    charge's. ``refunded_out_of_band`` records a refund already made at the processor (its dashboard), which is
    not asked again."""

    charge_id: str
    amount_atom: int | None = None
    currency: str | None = None
    reason: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    refunded_out_of_band: bool = False


async def create_refund(gateway: Gateway, account_id: str, new: NewRefund) -> Refund:
    """Reserve, ask the processor, settle (see the module's docstring). Answers the refund as it stands: succeeded,
    failed (the processor refused; nothing given back), or pending (the processor couldn't say; recovery settles
    it). A refund the charge can't cover raises :class:`InvalidFields` and changes nothing."""
    async with gateway.database.writing() as session:
        refund = await reserve_refund(session, account_id, new, lease=gateway.policy.attempt_lease)
        await session.commit()
    if refund.status != REFUND_PENDING:  # recorded out of band: nothing to ask
        return refund
    return await _ask_and_settle(gateway, refund)


async def reserve_refund(session: AsyncSession, account_id: str, new: NewRefund, *, lease: timedelta) -> Refund:
    """Step 1, in the caller's transaction: the refund, pending, with its amount reserved on the locked charge (or
    succeeded at once when it was made out of band)."""
    charge = await one_or_not_found(
        session,
        locked(select(PaymentCharge).where(PaymentCharge.id == new.charge_id, PaymentCharge.account_id == account_id)),
        "charge",
        new.charge_id,
    )
    amount = _refundable_amount(charge, new)
    charge.amount_refunded_atom += amount
    refund_id = new_id(REFUND_PREFIX)
    refund = Refund(
        id=refund_id,
        account_id=account_id,
        charge_id=charge.id,
        payment_id=charge.payment_id,
        amount_atom=amount,
        currency=charge.currency,
        status=REFUND_PENDING,
        reason=OUT_OF_BAND_REASON if new.refunded_out_of_band and new.reason is None else new.reason,
        # The refund's own id: unique, and the same key whoever asks the processor about this refund later.
        idempotency_key=refund_id,
        lease_expires_at=clock.now() + lease,
        refund_metadata=dict(new.metadata),
    )
    session.add(refund)
    await session.flush()
    await record_event(session, account_id=account_id, type="refund.created", obj=refund)
    if new.refunded_out_of_band:
        await _settle(session, refund, charge, RefundResult(RefundOutcome.SUCCEEDED))
    return refund


async def stage_full_refund(
    session: AsyncSession, charge: PaymentCharge, *, metadata: Mapping[str, str], lease: timedelta = STAGED_REFUND_LEASE
) -> Refund:
    """Step 1 of a refund of all a charge took, in the caller's transaction (a settlement that finds the money was
    taken for nothing). No SDK reason fits a refund the system makes itself, so it has none and ``metadata`` says
    why. It is committed with the caller's transaction, so it is made exactly once: by :func:`make_staged_refunds`
    right after the commit, or by :func:`recover_pending_refunds` if that process dies first."""
    return await reserve_refund(
        session,
        charge.account_id,
        NewRefund(charge_id=charge.id, metadata=metadata),
        lease=lease,
    )


async def make_staged_refunds(gateway: Gateway, account_id: str, payment_id: str) -> list[Refund]:
    """Steps 2 and 3 for the payment's refunds still pending (staged by :func:`stage_full_refund`), once their
    transaction is committed; each answered as it then stands."""
    async with gateway.database.reading() as session:
        pending = (
            await session.scalars(
                select(Refund).where(
                    Refund.account_id == account_id, Refund.payment_id == payment_id, Refund.status == REFUND_PENDING
                )
            )
        ).all()
    return [await _ask_and_settle(gateway, refund) for refund in pending]


def _refundable_amount(charge: PaymentCharge, new: NewRefund) -> int:
    if charge.status != REFUNDABLE_CHARGE or (charge.processor_reference is None and not new.refunded_out_of_band):
        raise BusinessRuleViolation(
            f"Charge {charge.id!r} is {charge.status}: only a succeeded charge can be refunded.",
            code="charge_not_refundable",
        )
    left = charge.amount_atom - charge.amount_refunded_atom
    problems: list[FieldProblem] = []
    if new.currency is not None and new.currency.lower() != charge.currency:
        problems.append(FieldProblem(("currency",), f"must be the charge's currency, {charge.currency}"))
    if new.amount_atom is None:
        if left <= 0:
            raise BusinessRuleViolation(
                f"Charge {charge.id!r} is already refunded in full.", code="charge_already_refunded"
            )
    elif new.amount_atom <= 0:
        problems.append(FieldProblem(("amount_atom",), "must be greater than 0", "greater_than"))
    elif new.amount_atom > left:
        problems.append(
            FieldProblem(
                ("amount_atom",),
                f"is more than the {left} left to refund of the charge's {charge.amount_atom} "
                f"(already refunded or being refunded: {charge.amount_refunded_atom})",
                "refund_exceeds_charge",
            )
        )
    if problems:
        raise InvalidFields(problems)
    return left if new.amount_atom is None else new.amount_atom


async def _ask_and_settle(gateway: Gateway, refund: Refund) -> Refund:
    """Steps 2 and 3: the processor call with no transaction open, then its answer settled. A processor that can't
    say leaves the refund pending for recovery."""
    async with gateway.database.reading() as session:
        charge = await session.get(PaymentCharge, refund.charge_id)
    assert charge is not None  # a refund's charge is deleted only with it
    assert charge.processor_reference is not None  # checked when the refund was reserved
    processor = await load_processor(gateway, charge.processor_id)
    request = RefundRequest(
        idempotency_key=refund.idempotency_key,
        processor_reference=charge.processor_reference,
        amount_atom=refund.amount_atom,
        currency=refund.currency,
        reason=refund.reason,
    )
    try:
        async with adapter_for(gateway, processor) as adapter:
            result = await adapter.refund(request)
    except OutcomeUnknown:
        async with gateway.database.reading() as session:
            return await get_refund(session, refund.account_id, refund.id)
    async with gateway.database.writing() as session:
        settled = await settle_refund(session, refund.account_id, refund.id, result)
        await session.commit()
    return settled


async def settle_refund(session: AsyncSession, account_id: str, refund_id: str, result: RefundResult) -> Refund:
    """Step 3, in the caller's transaction: the processor's answer, applied once. A refund already settled (by a
    concurrent settlement) is answered as it is."""
    refund = await one_or_not_found(
        session,
        locked(select(Refund).where(Refund.id == refund_id, Refund.account_id == account_id)),
        "refund",
        refund_id,
    )
    if refund.status != REFUND_PENDING:
        return refund
    charge = await session.scalar(locked(select(PaymentCharge).where(PaymentCharge.id == refund.charge_id)))
    assert charge is not None  # a refund's charge is deleted only with it
    await _settle(session, refund, charge, result)
    return refund


async def _settle(session: AsyncSession, refund: Refund, charge: PaymentCharge, result: RefundResult) -> None:
    refund.processor_refund_id = result.processor_refund_id
    refund.lease_expires_at = None
    if result.outcome is RefundOutcome.SUCCEEDED:
        refund.status = REFUND_SUCCEEDED
        refund.processed_at = clock.now()
        # An expression, not a read-modify-write: a payment's other charges may be refunded at the same time.
        await session.execute(
            update(Payment)
            .where(Payment.id == refund.payment_id)
            .values(amount_refunded_atom=Payment.amount_refunded_atom + refund.amount_atom)
            .execution_options(synchronize_session=False)
        )
        await session.flush()
        await record_event(session, account_id=refund.account_id, type="refund.succeeded", obj=refund)
        return
    refund.status = REFUND_FAILED
    refund.failure_code = result.failure_code
    refund.failure_message = result.failure_message
    charge.amount_refunded_atom -= refund.amount_atom
    await session.flush()
    await record_event(session, account_id=refund.account_id, type="refund.failed", obj=refund)


async def recover_pending_refunds(gateway: Gateway) -> int:
    """The worker's job: settle the pending refunds whose lease ran out (their process died, or the processor
    couldn't say). Each is claimed by moving its lease on (a conditional update, so two workers never both take
    it), asked about with its own key, and settled; one still unknown waits for its next lease. Returns how many
    were settled."""
    now = clock.now()
    async with gateway.database.reading() as session:
        due = (
            await session.scalars(
                select(Refund.id)
                .where(
                    Refund.status == REFUND_PENDING,
                    or_(Refund.lease_expires_at.is_(None), Refund.lease_expires_at <= now),
                )
                .order_by(Refund.lease_expires_at)
                .limit(RECOVERY_BATCH)
            )
        ).all()
    settled = 0
    for refund_id in due:
        refund = await _claim(gateway, refund_id)
        if refund is None:
            continue
        if (await _ask_and_settle(gateway, refund)).status != REFUND_PENDING:
            settled += 1
    return settled


async def _claim(gateway: Gateway, refund_id: str) -> Refund | None:
    now = clock.now()
    async with gateway.database.writing() as session:
        claimed = await session.execute(
            update(Refund)
            .where(
                Refund.id == refund_id,
                Refund.status == REFUND_PENDING,
                or_(Refund.lease_expires_at.is_(None), Refund.lease_expires_at <= now),
            )
            .values(lease_expires_at=now + gateway.policy.attempt_lease)
            .execution_options(synchronize_session=False)
        )
        refund = await session.get(Refund, refund_id) if claimed.rowcount else None  # type: ignore[attr-defined]
        await session.commit()
    return refund


# --- Reads ----------------------------------------------------------------------------------------------------------


async def get_refund(session: AsyncSession, account_id: str, refund_id: str) -> Refund:
    return await one_or_not_found(
        session, select(Refund).where(Refund.id == refund_id, Refund.account_id == account_id), "refund", refund_id
    )


async def list_refunds_of_charge(
    session: AsyncSession, account_id: str, charge_id: str, params: ListParams
) -> Page[Refund]:
    """A charge's refunds, newest first; another account's charge is not found."""
    await one_or_not_found(session, _charge(account_id, charge_id), "charge", charge_id)
    query = select(Refund).where(Refund.account_id == account_id, Refund.charge_id == charge_id)
    return await paginate(session, apply_list_params(query, REFUND_LIST, params), params.page)


async def refunds_of_charge(session: AsyncSession, account_id: str, charge_id: str) -> Sequence[Refund]:
    """All of a charge's refunds, newest first (the SDK's unpaged list by attempt)."""
    await one_or_not_found(session, _charge(account_id, charge_id), "charge", charge_id)
    return (
        await session.scalars(
            select(Refund)
            .where(Refund.account_id == account_id, Refund.charge_id == charge_id)
            .order_by(Refund.created_at.desc(), Refund.id.desc())
        )
    ).all()


def _charge(account_id: str, charge_id: str) -> Select[PaymentCharge]:
    return select(PaymentCharge).where(PaymentCharge.id == charge_id, PaymentCharge.account_id == account_id)
