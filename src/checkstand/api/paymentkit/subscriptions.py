"""``subscriptions/``: every call of the SDK's subscriptions client: create, read, list (also per customer), update,
change items, pause and resume, cancel (now or at the period's end), activate, and the lifecycle's own steps.

Renders the SDK's ``SubscriptionResponse``. Calls that reach a processor (create without a trial, renew) take the
payment gateway: they commit before the processor call and settle after it, outside the request's unit of work.
Each handler maps the wire to one domain call; the wire schemas are in :mod:`.subscription_schemas`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends, Query, Request, status
from pydantic import AwareDatetime

from checkstand.api.http.auth import AccountId
from checkstand.api.http.gateway import PaymentGateway
from checkstand.api.http.query import JSON, expand_query, list_query
from checkstand.api.http.unit_of_work import Session
from checkstand.api.paymentkit.common import PageOut
from checkstand.api.paymentkit.invoices import InvoiceOut
from checkstand.api.paymentkit.subscription_schemas import (
    EXPANDABLE,
    PROPOSED_ITEMS,
    ActivationOut,
    DunningEndIn,
    Effective,
    ItemsUpdate,
    LifecycleStepOut,
    NextActionOut,
    PauseIn,
    PayInvoicesIn,
    PreviewOut,
    RenewOut,
    SubscriptionCreate,
    SubscriptionOut,
    SubscriptionPage,
    SubscriptionUpdate,
    UpdateItemsOut,
    UpdateSubscriptionOut,
    proposed_items,
)
from checkstand.core.errors import BusinessRuleViolation
from checkstand.core.listing import ListParams
from checkstand.invoices import next_action as lifecycle
from checkstand.invoices import service as invoices
from checkstand.payments import collection, plan_changes, renewals, subscription_start
from checkstand.payments.dunning import DunningPolicy
from checkstand.subscriptions import pausing
from checkstand.subscriptions import service as subscriptions
from checkstand.subscriptions.models import STATUSES

router = APIRouter(prefix="/api/{account_id}/subscriptions", tags=["subscriptions"])


Expand = Annotated[frozenset[str], Depends(expand_query(*EXPANDABLE))]
# The service refuses another state, so the reference lists them.
State = Annotated[
    str | None,
    Query(max_length=16, description="Only subscriptions in this state.", json_schema_extra={"enum": list(STATUSES)}),
]


SubscriptionListQuery = Annotated[ListParams, Depends(list_query(subscriptions.LIST_SPEC))]


@router.get("/")
async def list_subscriptions(
    account_id: AccountId,
    params: SubscriptionListQuery,
    expand: Expand,
    session: Session,
    customer_external_id: Annotated[
        str | None, Query(max_length=64, description="Only this customer's subscriptions (its cus_ id).")
    ] = None,
    state: State = None,
) -> SubscriptionPage:
    """Newest first; also filterable (``filter``) by customer_id, currency, state, checkout_session_id,
    billing_interval and cancel_at_period_end."""
    page = await subscriptions.list_subscriptions(
        session, account_id, params, customer_id=customer_external_id, state=state
    )
    items = [SubscriptionOut.of(subscription, expand=expand) for subscription in page.items]
    return SubscriptionPage(items=items, total=page.total, has_more=page.has_more)


@router.get("/by-customer/{customer_external_id}")
async def list_subscriptions_by_customer(
    account_id: AccountId, customer_external_id: str, expand: Expand, session: Session, state: State = None
) -> list[SubscriptionOut]:
    """The customer's (its ``cus_`` id) subscriptions, newest first, at most 100: the SDK expects a bare list."""
    found = await subscriptions.list_by_customer(session, account_id, customer_external_id, state=state)
    return [SubscriptionOut.of(subscription, expand=expand) for subscription in found]


@router.get("/{subscription_id}")
async def get_subscription(
    account_id: AccountId, subscription_id: str, expand: Expand, session: Session
) -> SubscriptionOut:
    return SubscriptionOut.of(await subscriptions.get_subscription(session, account_id, subscription_id), expand=expand)


@router.post("/{subscription_id}/cancel")
async def cancel_subscription(account_id: AccountId, subscription_id: str, session: Session) -> SubscriptionOut:
    """Cancels at once; cancelling a canceled subscription is a 409. So is cancelling one whose contract term (its
    prices' ``contract_term_multiple``) runs beyond the current period (``contract_term_commitment``): a contract is
    served out, and ``cancel_at_period_end`` ends it at the term's end. A trialing, past-due or unpaid subscription
    is not held to its term."""
    return SubscriptionOut.of(await subscriptions.cancel(session, account_id, subscription_id), expand=EXPANDABLE)


@router.post("/{subscription_id}/cancel_at_period_end")
async def set_cancel_at_period_end(
    account_id: AccountId,
    subscription_id: str,
    session: Session,
    value: Annotated[bool, Query(description="true ends it when the current period ends; false keeps it.")] = True,
) -> SubscriptionOut:
    """Under a contract term, the end comes when the term does (``contract_term_end``): the periods before are
    billed as committed."""
    subscription = await subscriptions.set_cancel_at_period_end(session, account_id, subscription_id, value)
    return SubscriptionOut.of(subscription, expand=EXPANDABLE)


@router.post("/", status_code=status.HTTP_201_CREATED)
async def create_subscription(
    account_id: AccountId, body: SubscriptionCreate, session: Session, gateway: PaymentGateway
) -> SubscriptionOut:
    """For a customer with a saved payment method. With a trial it starts trialing and nothing is charged; without,
    its first period is invoiced and charged at once, and it is ``incomplete`` until that payment succeeds."""
    # The charge runs in transactions of its own around the processor call: the request's (which checked the key)
    # must not hold one, on SQLite the write lock, across it.
    await session.commit()
    subscription = await subscription_start.start_subscription(gateway, account_id, body.spec())
    return SubscriptionOut.of(subscription, expand=EXPANDABLE)


@router.patch("/{subscription_id}")
async def update_subscription(
    account_id: AccountId, subscription_id: str, body: SubscriptionUpdate, session: Session, gateway: PaymentGateway
) -> UpdateSubscriptionOut:
    """A new ``default_payment_method_id`` is charged at once for the subscription's past-due invoices (unless the
    operator's dunning settings say otherwise): paid, the subscription is active again."""
    subscription, updated = await collection.update_subscription(
        session, gateway, account_id, subscription_id, body.model_dump(exclude_unset=True)
    )
    return UpdateSubscriptionOut.of(subscription, updated)


@router.patch("/{subscription_id}/items")
async def update_subscription_items(
    account_id: AccountId, subscription_id: str, body: ItemsUpdate, session: Session, gateway: PaymentGateway
) -> UpdateItemsOut:
    """Add, change and remove items. With ``none`` the change bills from the next invoice; the prorating behaviours
    credit the unused time of the old items and charge the rest of the period for the new ones, now
    (``always_invoice``) or at the next renewal (``create_prorations``)."""
    changed = await plan_changes.update_items(
        session,
        gateway,
        account_id,
        subscription_id,
        body.item_changes(),
        proration_behavior=body.proration_behavior,
        proration_date=body.proration_date,
        effective=body.effective,
    )
    return UpdateItemsOut.of(changed)


@router.post("/{subscription_id}/pause")
async def pause_subscription(
    account_id: AccountId, subscription_id: str, session: Session, body: Annotated[PauseIn | None, Body()] = None
) -> SubscriptionOut:
    """Collection paused (Stripe's ``pause_collection``): nothing is charged until it resumes."""
    resumes_at = body.resumes_at if body is not None else None
    subscription = await pausing.pause(session, account_id, subscription_id, resumes_at=resumes_at)
    return SubscriptionOut.of(subscription, expand=EXPANDABLE)


@router.post("/{subscription_id}/resume")
async def resume_subscription(account_id: AccountId, subscription_id: str, session: Session) -> SubscriptionOut:
    return SubscriptionOut.of(await pausing.resume(session, account_id, subscription_id), expand=EXPANDABLE)


@router.post("/{subscription_id}/get-next-action")
async def get_next_action(
    account_id: AccountId, subscription_id: str, session: Session, request: Request
) -> NextActionOut:
    """What the lifecycle does next and when, from the subscription's state and dates; changes nothing."""
    action = await lifecycle.next_action(session, account_id, subscription_id, request.app.state.settings)
    return NextActionOut.model_validate(action)


@router.post("/{subscription_id}/activate")
async def activate_subscription(
    account_id: AccountId,
    subscription_id: str,
    session: Session,
    from_workflow: Annotated[bool, Query(description="Answer a result instead of refusing a running trial.")] = False,
) -> SubscriptionOut | ActivationOut:
    """Ends a trial that is over, or completes an incomplete subscription whose first invoice is paid. A trial still
    running is a 400 (``skipped`` with ``from_workflow``); an unpaid first invoice a 409 (``failed``)."""
    activation = await subscription_start.activate(session, account_id, subscription_id)
    if from_workflow:
        return ActivationOut(
            status=activation.status, subscription_id=activation.subscription.id, reason=activation.reason
        )
    return SubscriptionOut.of(subscription_start.require_activated(activation), expand=EXPANDABLE)


@router.get("/{subscription_id}/preview")
async def preview_subscription(
    account_id: AccountId,
    subscription_id: str,
    session: Session,
    items: Annotated[
        str | None,
        Query(
            max_length=20_000,
            description="Checkstand's extra: proposed item changes, as ``update_subscription_items`` takes them "
            "(a JSON list); the answer's ``proration`` says what applying them would credit and charge.",
            # A JSON document in a query string, said as OpenAPI says it (json_parameters_as_content).
            json_schema_extra={"contentMediaType": JSON, "contentSchema": PROPOSED_ITEMS.json_schema()},
        ),
    ] = None,
    proration_date: Annotated[
        AwareDatetime | None, Query(description="The instant the proposed items are priced at (default now).")
    ] = None,
    proration_behavior: Annotated[
        Literal["always_invoice", "create_prorations", "none"],
        Query(description="How the proposed items would be applied, as update_subscription_items takes it."),
    ] = "create_prorations",
    effective: Annotated[
        Effective, Query(description="When the proposed items would apply, as update_subscription_items takes it.")
    ] = "now",
) -> PreviewOut:
    """The next renewal's invoice as it would be made now (items as they are now, the coupon's terms applied, the
    pending prorations and the customer's credit balance included). With proposed ``items``, that invoice as it
    would be once they applied as ``proration_behavior`` and ``effective`` say (the prorations left pending by
    ``create_prorations``, the default; the new plan at the period's end), and the proration applying them now
    would bring; nothing is applied."""
    preview = await plan_changes.preview_subscription(
        session,
        account_id,
        subscription_id,
        proposed_items(items),
        proration_behavior=proration_behavior,
        effective=effective,
        proration_date=proration_date,
    )
    return PreviewOut.of(preview)


@router.post("/{subscription_id}/renew")
async def renew_subscription(
    account_id: AccountId, subscription_id: str, session: Session, gateway: PaymentGateway
) -> RenewOut:
    """Bill the next period now and charge it; a period already billed is a 409."""
    # As for create: no transaction of the request's may be open across the processor call.
    await session.commit()
    invoice = await renewals.renew_subscription(gateway, account_id, subscription_id)
    return RenewOut(subscription_id=subscription_id, invoice_id=invoice.id, invoice_status=invoice.status)


InvoiceListQuery = Annotated[ListParams, Depends(list_query(invoices.LIST_SPEC))]


@router.get("/{subscription_id}/invoices")
async def get_subscription_invoices(
    account_id: AccountId,
    subscription_id: str,
    params: InvoiceListQuery,
    session: Session,
    include_items: bool = False,
    include_payments: bool = False,
) -> PageOut[InvoiceOut]:
    """The subscription's invoices, newest first, as the SDK's ``Invoice``: items and the payments that paid each
    only when asked for."""
    await subscriptions.get_subscription(session, account_id, subscription_id)
    page = await invoices.list_invoices(session, account_id, params, subscription_id=subscription_id)
    related = await collection.invoice_related(session, account_id, page.items)
    items = [InvoiceOut.of(i, related, items=include_items, payments=include_payments) for i in page.items]
    return PageOut[InvoiceOut].of(page, items)


@router.post("/{subscription_id}/create-renewal-invoice")
async def create_renewal_invoice(account_id: AccountId, subscription_id: str, session: Session) -> LifecycleStepOut:
    """The next period's invoice made ahead of time, left open for the renewal to collect."""
    result, invoice, reason = await renewals.create_renewal_invoice(session, account_id, subscription_id)
    invoice_id = invoice.id if invoice is not None else None
    return LifecycleStepOut(status=result, subscription_id=subscription_id, invoice_id=invoice_id, reason=reason)


@router.post("/{subscription_id}/notify-trial-ending")
async def notify_trial_ending(account_id: AccountId, subscription_id: str, session: Session) -> LifecycleStepOut:
    """Records ``subscription.trial_will_end`` once per trial; a second call is ``skipped``."""
    if await renewals.notify_trial_ending(session, account_id, subscription_id):
        return LifecycleStepOut(status="notified", subscription_id=subscription_id)
    return LifecycleStepOut(status="skipped", subscription_id=subscription_id, reason="already notified")


@router.post("/{subscription_id}/apply-dunning-end-behavior")
async def apply_dunning_end_behavior(
    account_id: AccountId, subscription_id: str, body: DunningEndIn, session: Session, request: Request
) -> SubscriptionOut:
    """End a past-due subscription's dunning now, as its last failed retry would."""
    policy = request.app.state.settings
    if body.dunning_behavior != lifecycle.dunning_behavior(policy):
        raise BusinessRuleViolation(
            f"dunning_behavior must be {lifecycle.dunning_behavior(policy)!r}, as this server's settings say.",
            code="dunning_behavior_mismatch",
        )
    subscription = await renewals.apply_dunning_end_behavior(
        session, account_id, subscription_id, policy=DunningPolicy.of(policy)
    )
    return SubscriptionOut.of(subscription, expand=EXPANDABLE)


@router.post("/pay-multiple-invoices")
async def pay_multiple_invoices(account_id: AccountId, body: PayInvoicesIn) -> None:
    """Not served: paying invoices with payments made elsewhere needs payment allocations, which Checkstand does not
    keep. Each invoice is collected on its own (renewals and dunning retries)."""
    raise BusinessRuleViolation(
        "Paying several invoices with separate payment intents is not supported; invoices are collected one by one.",
        code="not_supported",
    )
