"""Paid's ``signals``: usage reported for a customer, recorded as meter events (:mod:`checkstand.usage.signals`):
``eventName`` is the meter a metered price bills, ``data.quantity`` the quantity (1 without it), ``idempotencyKey``
what makes a repeat a duplicate. Each signal is attributed to the customer's live order with a price on its meter,
whose renewal invoice bills it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final

from fastapi import APIRouter, Path, Query
from pydantic import AwareDatetime, Field

from checkstand.api.http.unit_of_work import Session
from checkstand.api.paid import ids
from checkstand.api.paid.errors import wire_field
from checkstand.api.paid.wire import AccountId, PaidList, PaidModel, PaidPageParams, PaidRequest, iso_bound
from checkstand.usage import signals as usage_signals

router = APIRouter(prefix="/signals", tags=["paid: signals"])

MAX_SIGNALS: Final = 1000
Id = Annotated[str, Field(min_length=1, max_length=64)]
ExternalId = Annotated[str, Field(min_length=1, max_length=255)]


class CustomerById(PaidRequest):
    customer_id: Id


class CustomerByExternalId(PaidRequest):
    external_customer_id: ExternalId


class ProductById(PaidRequest):
    product_id: Id


class ProductByExternalId(PaidRequest):
    external_product_id: ExternalId


class CustomerUnitIn(PaidRequest):
    external_customer_unit_id: ExternalId


class SignalIn(PaidRequest):
    """The SDK's ``Signal``."""

    event_name: Annotated[str, Field(min_length=1, max_length=100, description="The meter the usage is of.")]
    customer: CustomerById | CustomerByExternalId
    customer_unit: CustomerUnitIn | None = Field(default=None, description="Not supported: such a signal fails.")
    attribution: ProductById | ProductByExternalId | None = None
    timestamp: AwareDatetime | None = Field(default=None, description="When it happened; by default, now.")
    data: dict[str, Any] | None = Field(
        default=None, description="Kept as sent; a whole ``quantity`` in it is the usage's quantity (1 without)."
    )
    idempotency_key: Annotated[str, Field(min_length=1, max_length=100)] | None = Field(
        default=None, description="A signal sent again with the same key is a duplicate, stored once."
    )

    def spec(self) -> usage_signals.SignalSpec:
        customer, product = self.customer, self.attribution
        return usage_signals.SignalSpec(
            event_name=self.event_name,
            customer_id=customer.customer_id if isinstance(customer, CustomerById) else None,
            external_customer_id=customer.external_customer_id if isinstance(customer, CustomerByExternalId) else None,
            product_id=product.product_id if isinstance(product, ProductById) else None,
            external_product_id=product.external_product_id if isinstance(product, ProductByExternalId) else None,
            customer_unit=self.customer_unit.external_customer_unit_id if self.customer_unit is not None else None,
            timestamp=self.timestamp,
            data=self.data,
            idempotency_key=self.idempotency_key,
        )


class BulkSignalsIn(PaidRequest):
    signals: Annotated[list[SignalIn], Field(min_length=1, max_length=MAX_SIGNALS)]


class SignalResultOut(PaidModel):
    index: int
    status: usage_signals.Outcome
    id: str | None = Field(description="The stored signal (the earlier one, for a duplicate).")
    error: str | None = Field(description="Why it failed: each field and what is wrong with it.")


class BulkSignalsOut(PaidModel):
    """The SDK's ``BulkSignalsResponse``, and each signal's own outcome in ``results``."""

    ingested: int
    duplicates: int
    failed: int
    results: list[SignalResultOut]


class SignalOut(PaidModel):
    """The SDK's ``SignalListItem``, and the order it is attributed to (``orderId``), when it happened
    (``timestamp``) and the quantity it reports."""

    id: str
    name: str
    customer_id: str | None
    external_customer_id: str | None
    product_id: str | None
    external_product_id: str | None
    trace_id: str | None = None
    data: dict[str, Any] | None
    created_at: datetime
    order_id: str | None
    timestamp: datetime
    quantity: int

    @classmethod
    def of(cls, signal: usage_signals.Signal) -> SignalOut:
        event = signal.event
        return cls(
            id=event.id,
            name=event.metered_id,
            customer_id=event.customer_id,
            external_customer_id=signal.external_customer_id,
            product_id=event.product_id,
            external_product_id=signal.external_product_id,
            data=event.data,
            created_at=event.created_at,
            order_id=ids.row_order_id(event.subscription_id) if event.subscription_id is not None else None,
            timestamp=event.occurred_at,
            quantity=event.value,
        )


def _problems(result: usage_signals.SignalResult) -> str | None:
    if not result.problems:
        return None
    return "; ".join(f"{wire_field(problem.path)}: {problem.msg}" for problem in result.problems)


DateQuery = Annotated[str | None, Query(max_length=40, description="An ISO 8601 date or date-time (UTC without zone).")]
FilterId = Annotated[str | None, Query(min_length=1, max_length=255)]


@router.post("/bulk")
async def create_signals(account_id: AccountId, body: BulkSignalsIn, session: Session) -> BulkSignalsOut:
    """Record each signal on its own: one that fails (an unknown customer or meter, a bad quantity, a period
    already invoiced) leaves the others stored, and says why in ``results``."""
    results = await usage_signals.record_signals(session, account_id, [signal.spec() for signal in body.signals])
    return BulkSignalsOut(
        ingested=sum(result.outcome == "ingested" for result in results),
        duplicates=sum(result.outcome == "duplicate" for result in results),
        failed=sum(result.outcome == "failed" for result in results),
        results=[
            SignalResultOut(
                index=index,
                status=result.outcome,
                id=result.signal.id if result.signal is not None else None,
                error=_problems(result),
            )
            for index, result in enumerate(results)
        ],
    )


@router.get("/")
async def list_signals(
    account_id: AccountId,
    session: Session,
    page: PaidPageParams,
    signal_name: Annotated[str | None, Query(alias="signalName", min_length=1, max_length=100)] = None,
    customer_id: Annotated[FilterId, Query(alias="customerId")] = None,
    external_customer_id: Annotated[FilterId, Query(alias="externalCustomerId")] = None,
    product_id: Annotated[FilterId, Query(alias="productId")] = None,
    external_product_id: Annotated[FilterId, Query(alias="externalProductId")] = None,
    created_at_from: Annotated[DateQuery, Query(alias="createdAtFrom")] = None,
    created_at_to: Annotated[DateQuery, Query(alias="createdAtTo")] = None,
) -> PaidList[SignalOut]:
    """Newest first."""
    filters = usage_signals.SignalFilters(
        signal_name=signal_name,
        customer_id=customer_id,
        external_customer_id=external_customer_id,
        product_id=product_id,
        external_product_id=external_product_id,
        created_from=iso_bound(created_at_from, "created_at_from", end=False),
        created_to=iso_bound(created_at_to, "created_at_to", end=True),
    )
    found = await usage_signals.list_signals(session, account_id, filters, page)
    return PaidList.of(found, [SignalOut.of(signal) for signal in found.items])


@router.get("/{signal_id}")
async def get_signal_by_id(
    account_id: AccountId,
    signal_id: Annotated[str, Path(min_length=1, max_length=64, description="The signal's id.")],
    session: Session,
) -> SignalOut:
    return SignalOut.of(await usage_signals.get_signal(session, account_id, signal_id))
