"""Paid's ``payment-methods``: a customer's saved payment methods, the same rows the PaymentKit dialect serves (a
card a checkout or ``credit_card`` saved; only its processor token, brand, last four digits and expiry are kept).

A customer's default (``isDefault``) is the method chosen with ``set-default``, else the newest one saved. Choosing
one also makes it the method the customer's subscriptions charge from their next renewal on. Deleting a method
detaches it at its processor: it is never charged again (and no longer listed). Saving a method through Paid's
``create_payment_method`` (a Stripe confirmation token) is not served: a card is saved by a checkout.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query

from checkstand.api.http.gateway import PaymentGateway
from checkstand.api.http.unit_of_work import Session
from checkstand.api.paid.wire import AccountId, PaidList, PaidModel, PaidPageParams
from checkstand.core.errors import BusinessRuleViolation
from checkstand.payment_methods.models import SavedPaymentMethod
from checkstand.payments import saved_methods
from checkstand.payments.customer_scope import CustomerScope

router = APIRouter(prefix="/payment-methods", tags=["paid: payment methods"])

MethodId = Annotated[str, Path(min_length=1, max_length=64, description="The payment method's id (pm_...).")]
FilterId = Annotated[str | None, Query(min_length=1, max_length=255)]


class CardOut(PaidModel):
    brand: str
    last4: str
    exp_month: int
    exp_year: int


class PaymentMethodOut(PaidModel):
    """The SDK's ``PaymentMethod``; ``externalPaymentMethodId`` is the processor's token (Stripe's ``pm_...``)."""

    id: str
    customer_id: str
    external_payment_method_id: str
    type: str
    is_default: bool
    card: CardOut | None
    created_at: datetime
    is_active: bool

    @classmethod
    def of(cls, view: saved_methods.MethodView) -> PaymentMethodOut:
        method: SavedPaymentMethod = view.method
        card = (
            CardOut(brand=method.brand, last4=method.last4, exp_month=method.exp_month, exp_year=method.exp_year)
            if method.brand and method.last4 and method.exp_month and method.exp_year
            else None
        )
        return cls(
            id=method.id,
            customer_id=method.customer_id or "",
            external_payment_method_id=method.processor_reference,
            type="card",
            is_default=view.is_default,
            card=card,
            created_at=method.created_at,
            is_active=method.is_active,
        )


class EmptyOut(PaidModel):
    pass


@router.get("/")
async def list_payment_methods(
    account_id: AccountId,
    page: PaidPageParams,
    session: Session,
    customer_id: Annotated[FilterId, Query(alias="customerId")] = None,
    external_customer_id: Annotated[FilterId, Query(alias="externalCustomerId")] = None,
) -> PaidList[PaymentMethodOut]:
    """The account's active methods, or one customer's, newest first."""
    found = await saved_methods.list_methods(
        session, account_id, CustomerScope(customer_id, external_customer_id), page
    )
    return PaidList.of(found, [PaymentMethodOut.of(view) for view in found.items])


@router.post("/")
async def create_payment_method(account_id: AccountId) -> PaymentMethodOut:
    """Not served: a card is saved by the checkout that first charges it."""
    raise BusinessRuleViolation(
        "A payment method is saved by a checkout (or the PaymentKit dialect's credit_card): confirmation tokens "
        "are not supported.",
        code="not_supported",
    )


@router.get("/{payment_method_id}")
async def get_payment_method(account_id: AccountId, payment_method_id: MethodId, session: Session) -> PaymentMethodOut:
    return PaymentMethodOut.of(await saved_methods.method_view(session, account_id, payment_method_id))


@router.delete("/{payment_method_id}")
async def delete_payment_method(
    account_id: AccountId, payment_method_id: MethodId, session: Session, gateway: PaymentGateway
) -> EmptyOut:
    """Detaches the method at its processor: never charged again; deleting it twice changes nothing."""
    await saved_methods.detach(session, gateway, account_id, payment_method_id)
    return EmptyOut()


@router.post("/{payment_method_id}/set-default")
async def update_default_payment_method(
    account_id: AccountId, payment_method_id: MethodId, session: Session
) -> PaymentMethodOut:
    """The customer's default from now on, and the method its subscriptions charge from their next renewal; a
    detached method is refused."""
    return PaymentMethodOut.of(await saved_methods.make_default(session, account_id, payment_method_id))
