"""Checkout sessions: creation with every check, the amounts, and the moves from open to success or expired.

Amounts are always the server's: line items are snapshotted from the catalog (a later price or product change
leaves an open or finished session as it was), the discount from the coupon's terms at the time it was applied.
Every change of an open session locks its row first (``FOR UPDATE`` on PostgreSQL; SQLite's writers already run one
at a time) and re-reads its state inside the lock, so concurrent complete, expire and add-line-item requests leave
one consistent state. A customer's change or payment starts from :func:`lock_open_session`. While an attempt pays a
session (:func:`begin_payment` until :func:`end_payment`) nothing that could change what is charged may change: the
processor is charging the amount the session had when the payment began.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final, Protocol

from sqlalchemy import ColumnElement, Select, and_, func, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.catalog import service as catalog
from checkstand.catalog.models import METERED, Price
from checkstand.catalog.pricing import amount_for
from checkstand.checkout import packages as package_lines
from checkstand.checkout import trials
from checkstand.checkout.models import (
    EXPIRED,
    OPEN,
    PRIMARY_TIER,
    SUCCESS,
    CheckoutLineItem,
    CheckoutSession,
)
from checkstand.checkout.offer_terms import CHECKOUT_ID_PLACEHOLDER, OfferTerms, display_id, is_offer
from checkstand.core import clock
from checkstand.core.errors import (
    BusinessRuleViolation,
    Conflict,
    FieldPath,
    FieldProblem,
    InvalidFields,
    NotFound,
)
from checkstand.core.i18n import AUTO as AUTO_LOCALE
from checkstand.core.ids import new_id, new_secret
from checkstand.core.listing import ListParams, ListSpec, apply_list_params
from checkstand.core.lookup import locked, one_or_not_found
from checkstand.core.money import amount_limit, max_amount_atom
from checkstand.core.pagination import Page, paginate
from checkstand.core.urls import UrlProblem, parse_web_url
from checkstand.custom_fields.service import JsonColumnStore, apply_custom_fields, register_value_store
from checkstand.customers import service as customers
from checkstand.customers.models import Customer
from checkstand.db import UTCDateTime
from checkstand.discounts import maths, promotion_codes, redemptions
from checkstand.discounts.models import Coupon
from checkstand.events.service import record_event, snapshot
from checkstand.processors import routes
from checkstand.test_clocks.models import TestClock

DEFAULT_EXPIRY_HOURS: Final = 24
MIN_EXPIRY_HOURS: Final = 1
MAX_EXPIRY_HOURS: Final = 720
MAX_LINE_ITEMS: Final = 100
MAX_CASCADE_TIERS: Final = 10
# Stripe's largest line quantity; a line's amount and every tier's total are capped too (core.money).
MAX_QUANTITY: Final = 999_999
SESSION_ID_PLACEHOLDER: Final = "{CHECKOUT_SESSION_ID}"
SECURE_TOKEN_PREFIX: Final = "cst"  # noqa: S105 - a prefix, not a secret

# Deleting a custom field definition deletes its values here too.
register_value_store("checkout_session", JsonColumnStore(CheckoutSession.custom_fields, CheckoutSession.account_id))
register_value_store(
    "subscription", JsonColumnStore(CheckoutSession.subscription_custom_fields, CheckoutSession.account_id)
)

PlanChangePricer = Callable[[AsyncSession, CheckoutSession], Awaitable[None]]
"""Makes a new or re-priced session a plan change when its customer already subscribes to what it sells (and prices
the change): given by the payments layer, which may read subscriptions (a layer above checkout's)."""

HeldPrices = Callable[[AsyncSession, str, str], Awaitable[Collection[str]]]
"""The prices a customer (account id, customer id) holds on its live subscriptions: an add-on whose base one of them
holds is sold without it. Given by the subscriptions layer (above checkout's); without it, the base must be in the
session."""

LIST_SPEC: Final = ListSpec(
    filterable={
        "customer_id": CheckoutSession.customer_id,
        "currency": CheckoutSession.currency,
        "processor_route_id": CheckoutSession.processor_route_id,
        "coupon_id": CheckoutSession.coupon_id,
    },
    sortable={
        "created_at": CheckoutSession.created_at,
        "updated_at": CheckoutSession.updated_at,
        "expires_at": CheckoutSession.expires_at,
        "amount_total_atom": CheckoutSession.amount_total_atom,
    },
    searchable=(CheckoutSession.id, CheckoutSession.customer_id),
    created_at=CheckoutSession.created_at,
    tiebreak=CheckoutSession.id,
)


@dataclass(frozen=True)
class LineItemSpec:
    price_id: str
    quantity: int = 1
    description: str | None = None
    # The package this line sells a price of (a package line of the request, expanded).
    package_id: str | None = None


@dataclass(frozen=True)
class TierSpec:
    line_items: Sequence[LineItemSpec | package_lines.PackageLineSpec]
    processor_route_id: str | None = None


@dataclass(frozen=True)
class NewCheckoutSession:
    """What a merchant asks for; every field is checked by :func:`create_session`."""

    success_url: str
    return_url: str
    line_items: Sequence[LineItemSpec | package_lines.PackageLineSpec]
    customer_id: str | None = None
    expires_in_hours: int = DEFAULT_EXPIRY_HOURS
    coupon_id: str | None = None
    promotion_code: str | None = None
    processor_route_id: str | None = None
    three_ds_mode: str | None = None
    custom_fields: Mapping[str, Any] | None = None
    subscription_custom_fields: Mapping[str, Any] | None = None
    cascade_tiers: Sequence[TierSpec] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)
    # An expiry instant (at the customer's time), in place of ``expires_in_hours``: Paid's ``expiresAt``.
    expires_at: datetime | None = None
    # What the session offers besides its lines (Paid's checkout options); None for a PaymentKit session.
    offer: OfferTerms | None = None
    # The page's and the receipts' language, as :func:`checkstand.core.i18n.parse_locale` stores it.
    locale: str = AUTO_LOCALE


# --- Reading --------------------------------------------------------------------------------------------------------


def state(checkout: CheckoutSession, now: datetime | None = None) -> str:
    """What the session is now (its customer's time, on a test clock): an open session past ``expires_at`` is
    expired even before the worker records it."""
    return checkout.state_at(now or checkout.current_time())


def is_open(checkout: CheckoutSession) -> bool:
    return state(checkout) == OPEN


def success_redirect_url(checkout: CheckoutSession) -> str:
    """Where the customer goes after paying: ``{CHECKOUT_SESSION_ID}`` in the merchant's URL becomes the id, so
    the merchant's page can look the session up (as Stripe does); in a Paid checkout's, ``{CHECKOUT_ID}`` becomes
    its Paid name (``chk_...``)."""
    url = checkout.success_url.replace(SESSION_ID_PLACEHOLDER, checkout.id)
    return url.replace(CHECKOUT_ID_PLACEHOLDER, display_id(checkout.id)) if is_offer(checkout) else url


def tier_items(checkout: CheckoutSession, tier: int) -> list[CheckoutLineItem]:
    return [item for item in checkout.line_items if item.tier == tier]


def tier_count(checkout: CheckoutSession) -> int:
    return 1 + len(checkout.cascade_routes)


def _sessions(account_id: str) -> Select[CheckoutSession]:
    return select(CheckoutSession).where(CheckoutSession.account_id == account_id)


async def get_session(session: AsyncSession, account_id: str, checkout_id: str) -> CheckoutSession:
    return await one_or_not_found(
        session, _sessions(account_id).where(CheckoutSession.id == checkout_id), "checkout_session", checkout_id
    )


async def find_by_token(session: AsyncSession, secure_token: str) -> CheckoutSession | None:
    """The session a hosted page's token opens; the token is the only key, so no account is given."""
    return await session.scalar(select(CheckoutSession).where(CheckoutSession.secure_token == secure_token))


async def get_by_token(session: AsyncSession, secure_token: str) -> CheckoutSession:
    """The session a customer's token opens, whatever its state; an unknown token is a 404 that names no token."""
    checkout = await find_by_token(session, secure_token)
    if checkout is None:
        raise NotFound("checkout_session", "(token)")
    return checkout


async def list_sessions(session: AsyncSession, account_id: str, params: ListParams) -> Page[CheckoutSession]:
    """``filter`` may also name a ``state`` (open, success, expired), matched as :func:`state` computes it."""
    query = _sessions(account_id)
    filters = dict(params.filters)
    if "state" in filters:
        query = query.where(state_condition(filters.pop("state")))
    remaining = ListParams(params.page, filters, params.sort_by, params.descending, params.search)
    return await paginate(session, apply_list_params(query, LIST_SPEC, remaining), params.page)


def state_condition(wanted: object) -> Any:
    """A query's condition for the sessions that are ``wanted`` (open, success, expired) now, each at its
    customer's time, as :func:`state` says it."""
    session_now = func.coalesce(CheckoutSession.customer_clock_time, literal(clock.now(), UTCDateTime()))
    return _state_condition(wanted, session_now)


def _state_condition(wanted: object, now: ColumnElement[datetime]) -> Any:
    if wanted == OPEN:
        return and_(CheckoutSession.status == OPEN, CheckoutSession.expires_at > now)
    if wanted == EXPIRED:
        return or_(
            CheckoutSession.status == EXPIRED,
            and_(CheckoutSession.status == OPEN, CheckoutSession.expires_at <= now),
        )
    if wanted == SUCCESS:
        return CheckoutSession.status == SUCCESS
    raise InvalidFields.one(("filter",), "state must be one of open, success, expired")


# --- Creating -------------------------------------------------------------------------------------------------------


def _line_items_path(tier: int) -> FieldPath:
    """Where a tier's line items are in :class:`NewCheckoutSession`: the primary tier's own, or a cascade tier's."""
    return ("line_items",) if tier == PRIMARY_TIER else ("cascade_tiers", tier - 1, "line_items")


def check_redirect_url(url: str, path: FieldPath) -> tuple[str, list[FieldProblem]]:
    """A URL the customer is sent to, normalised as stored (:mod:`checkstand.core.urls`: an internationalised host
    punycoded), or what is wrong with it: http or https only (no ``javascript:`` or ``data:``), a host, no
    credentials (they would end up in the customer's browser history), nothing a header or a policy can't carry."""
    try:
        return parse_web_url(url).text, []
    except UrlProblem as problem:
        return url, [FieldProblem(path, problem.message, problem.type)]


async def create_session(
    session: AsyncSession,
    account_id: str,
    spec: NewCheckoutSession,
    *,
    plan_change: PlanChangePricer | None = None,
    held_prices: HeldPrices | None = None,
) -> CheckoutSession:
    """Check and price the session (:func:`priced_session`), store it, and record ``checkout_session.created``."""
    checkout = await priced_session(session, account_id, spec, plan_change=plan_change, held_prices=held_prices)
    session.add(checkout)
    await session.flush()
    await record_event(session, account_id=account_id, type="checkout_session.created", obj=checkout)
    return checkout


async def priced_session(
    session: AsyncSession,
    account_id: str,
    spec: NewCheckoutSession,
    *,
    plan_change: PlanChangePricer | None = None,
    held_prices: HeldPrices | None = None,
) -> CheckoutSession:
    """Check everything, snapshot the line items and price every tier, into a session not yet added to the database
    session: :func:`create_session` stores it, and a payment link checks its terms with it (the same rules, the same
    messages) without storing one.

    Every field problem is reported at once (422 naming each field), and nothing is stored when there is one.
    ``plan_change`` prices the session as a change of its customer's subscription before it is recorded, so the
    event and the first read carry the breakdown, and a refused change stores nothing. ``held_prices`` lets an add-on
    stand on a base its customer already subscribes to. A package line is sold as its package's prices
    (:mod:`checkstand.checkout.packages`); a problem of one of them is named at the package line."""
    success_url, problems = check_redirect_url(spec.success_url, ("success_url",))
    return_url, return_problems = check_redirect_url(spec.return_url, ("return_url",))
    problems += return_problems
    if not MIN_EXPIRY_HOURS <= spec.expires_in_hours <= MAX_EXPIRY_HOURS:
        problems.append(
            FieldProblem(("expires_in_hours",), f"must be between {MIN_EXPIRY_HOURS} and {MAX_EXPIRY_HOURS} hours")
        )
    # A session lives at its customer's time: on a test clock, it expires when the clock passes its expiry.
    clock_time = None if spec.customer_id is None else await _customer_clock_time(session, spec.customer_id)
    now = clock_time or clock.now()
    expires_at = spec.expires_at or now + timedelta(hours=spec.expires_in_hours)
    if spec.expires_at is not None:
        problems += _expiry_problems(spec.expires_at, now)
    if spec.coupon_id is not None and spec.promotion_code is not None:
        problems.append(FieldProblem(("promotion_code",), "give coupon_id or promotion_code, not both"))
    if spec.customer_id is not None:
        problems += await _customer_problems(session, account_id, spec.customer_id)
    problems += await _route_problems(session, account_id, spec.processor_route_id, ("processor_route_id",))
    requested = [spec.line_items, *(t.line_items for t in spec.cascade_tiers)]
    try:
        lines = await package_lines.expand(
            session, account_id, requested, [_line_items_path(tier) for tier in range(len(requested))], _package_line
        )
    except InvalidFields as refused:
        raise InvalidFields([*problems, *refused.problems]) from None

    tiers: list[list[Price]] = []
    for tier, items in enumerate(lines.tiers):
        path = _line_items_path(tier)
        prices, price_problems = await _sellable_prices(session, account_id, items, path)
        tiers.append(prices)
        problems += price_problems
    for index, tier_spec in enumerate(spec.cascade_tiers):
        problems += await _route_problems(
            session,
            account_id,
            tier_spec.processor_route_id,
            ("cascade_tiers", index, "processor_route_id"),
        )
    if problems:
        raise InvalidFields(lines.relocated(problems))

    priced = [price for prices in tiers for price in prices]
    currency = priced[0].currency
    problems = _mixture_problems(tiers, currency, _new_line_path)
    held = await _held_bases(session, account_id, spec.customer_id, priced, held_prices)
    for tier, prices in enumerate(tiers):
        sold = {price.id for price in prices} | held
        problems += [
            FieldProblem(_new_line_path(tier, index), problem, "price_not_sellable")
            for index, price in enumerate(prices)
            if (problem := _sale_problem(price, sold, spec.customer_id))
        ]
    if problems:
        raise InvalidFields(lines.relocated(problems))

    custom_fields = await apply_custom_fields(session, account_id, "checkout_session", {}, spec.custom_fields)
    sells_subscription = any(price.recurring_interval for price in priced)
    subscription_fields: dict[str, Any] = {}
    if sells_subscription or spec.subscription_custom_fields:
        subscription_fields = await apply_custom_fields(
            session,
            account_id,
            "subscription",
            {},
            spec.subscription_custom_fields,
            path=("subscription_custom_fields",),
        )

    checkout = CheckoutSession(
        id=new_id("cs"),
        account_id=account_id,
        secure_token=new_secret(SECURE_TOKEN_PREFIX),
        customer_id=spec.customer_id,
        customer_clock_time=clock_time,
        status=OPEN,
        success_url=success_url,
        return_url=return_url,
        expires_in_hours=spec.expires_in_hours if spec.expires_at is None else _hours_until(expires_at, now),
        expires_at=expires_at,
        currency=currency,
        processor_route_id=spec.processor_route_id,
        three_ds_mode=spec.three_ds_mode,
        locale=spec.locale,
        cascade_routes=[tier.processor_route_id for tier in spec.cascade_tiers],
        custom_fields=custom_fields,
        subscription_custom_fields=subscription_fields,
        session_metadata=dict(spec.metadata),
        **(spec.offer.columns() if spec.offer is not None else {}),
        line_items=[
            _line_item(account_id, tier, position, price, item)
            for tier, (prices, items) in enumerate(zip(tiers, lines.tiers, strict=True))
            for position, (price, item) in enumerate(zip(prices, items, strict=True))
        ],
    )
    if spec.coupon_id is not None or spec.promotion_code is not None:
        await _apply_discount(session, checkout, spec.coupon_id, spec.promotion_code)
    price_tiers(checkout)
    if plan_change is not None:
        await plan_change(session, checkout)
    return checkout


def _expiry_problems(expires_at: datetime, now: datetime) -> list[FieldProblem]:
    """An expiry instant must be ahead, by at most the longest a session may stay open (as ``expires_in_hours``)."""
    if expires_at <= now:
        return [FieldProblem(("expires_at",), "must be in the future", "expires_in_past")]
    if expires_at > now + timedelta(hours=MAX_EXPIRY_HOURS):
        return [
            FieldProblem(("expires_at",), f"must be at most {MAX_EXPIRY_HOURS // 24} days ahead", "expires_too_late")
        ]
    return []


def _hours_until(expires_at: datetime, now: datetime) -> int:
    """A session's life in whole hours, rounded up, for a session given its expiry instant."""
    return max(MIN_EXPIRY_HOURS, -(-(expires_at - now) // timedelta(hours=1)))


def _package_line(price: package_lines.PackagePrice) -> LineItemSpec:
    return LineItemSpec(price.price_id, price.quantity, price.description, price.package_id)


async def _customer_clock_time(session: AsyncSession, customer_id: str) -> datetime | None:
    """What :attr:`CheckoutSession.customer_clock_time` reads for a session of ``customer_id``, for a new session
    (not yet loaded from its row)."""
    return await session.scalar(
        select(TestClock.frozen_time)
        .join(Customer, Customer.test_clock_id == TestClock.id)
        .where(Customer.id == customer_id)
    )


async def _customer_problems(session: AsyncSession, account_id: str, customer_id: str) -> list[FieldProblem]:
    try:
        await customers.get_customer(session, account_id, customer_id)
    except NotFound:
        return [FieldProblem(("customer_id",), f"no customer {customer_id!r} in this account", "not_found")]
    return []


async def _route_problems(
    session: AsyncSession, account_id: str, route_id: str | None, path: FieldPath
) -> list[FieldProblem]:
    if route_id is None:
        return []
    try:
        await routes.get_route(session, account_id, route_id)
    except NotFound:
        return [FieldProblem(path, f"no processor route {route_id!r} in this account", "not_found")]
    return []


async def _sellable_prices(
    session: AsyncSession, account_id: str, items: Sequence[LineItemSpec], path: FieldPath
) -> tuple[list[Price], list[FieldProblem]]:
    prices: list[Price] = []
    problems: list[FieldProblem] = []
    if not items:
        problems.append(FieldProblem(path, "at least one line item is needed", "too_short"))
    if len(items) > MAX_LINE_ITEMS:
        problems.append(FieldProblem(path, f"at most {MAX_LINE_ITEMS} line items", "too_long"))
    # All of the lines' prices in one query, however many lines.
    found = await catalog.get_prices(session, account_id, {item.price_id for item in items})
    for index, item in enumerate(items):
        if not 1 <= item.quantity <= MAX_QUANTITY:
            kind = "greater_than_equal" if item.quantity < 1 else "less_than_equal"
            problems.append(FieldProblem((*path, index, "quantity"), f"must be from 1 to {MAX_QUANTITY}", kind))
        price = found.get(item.price_id)
        if price is None:
            problems.append(FieldProblem((*path, index, "price_id"), f"no price {item.price_id!r}", "not_found"))
            continue
        try:
            catalog.ensure_sellable(price)
        except BusinessRuleViolation as refusal:
            problems.append(FieldProblem((*path, index, "price_id"), refusal.detail, refusal.code))
        else:
            prices.append(price)
            if price.usage_type == METERED and item.quantity != 1:
                problems.append(
                    FieldProblem(
                        (*path, index, "quantity"),
                        "a metered price bills the usage reported, not a quantity: leave quantity out",
                        "metered_quantity",
                    )
                )
            elif 1 <= item.quantity <= MAX_QUANTITY and amount_for(price, item.quantity) > max_amount_atom(
                price.currency
            ):
                problems.append(
                    FieldProblem(
                        (*path, index, "quantity"),
                        f"the line's amount for its quantity must be {amount_limit(price.currency)}",
                        "amount_too_large",
                    )
                )
    return prices, problems


class _Sold(Protocol):
    """What a line sells, as a price or as a line's snapshot of one: what the mixture rules look at."""

    @property
    def currency(self) -> str: ...

    @property
    def recurring_interval(self) -> str | None: ...

    @property
    def recurring_interval_count(self) -> int | None: ...


async def _held_bases(
    session: AsyncSession,
    account_id: str,
    customer_id: str | None,
    prices: Sequence[Price],
    held_prices: HeldPrices | None,
) -> set[str]:
    """The prices the customer holds on its live subscriptions, looked up only when an add-on is sold."""
    if customer_id is None or held_prices is None or not any(price.prerequisite_price_ids for price in prices):
        return set()
    return set(await held_prices(session, account_id, customer_id))


def _sale_problem(price: Price, sold_price_ids: set[str], customer_id: str | None) -> str | None:
    """Why ``price`` can't be sold beside ``sold_price_ids`` (the prices of its tier, and those its customer holds
    on a live subscription) to ``customer_id``: an add-on needs one of its base prices among them, and a
    customer-exclusive price needs one of its customers."""
    if price.prerequisite_price_ids and sold_price_ids.isdisjoint(price.prerequisite_price_ids):
        bases = ", ".join(price.prerequisite_price_ids)
        return (
            f"price {price.id!r} is an add-on: it is sold only beside one of {bases}, in the session or on the "
            "customer's subscription"
        )
    if price.exclusive_customer_ids and customer_id not in price.exclusive_customer_ids:
        return f"price {price.id!r} is reserved to other customers"
    return None


LinePath = Callable[[int, int | None], FieldPath]
"""Where a refused line's price is named (a tier and the line's index), or a whole tier's lines (index None)."""


def _mixture_problems(tiers: Sequence[Sequence[_Sold]], currency: str, where: LinePath) -> list[FieldProblem]:
    """One currency for the whole session, and one billing interval for its recurring prices (as Stripe requires:
    they become one subscription). Checked when a session is created and when a line is added to it."""
    problems: list[FieldProblem] = []
    for tier, lines in enumerate(tiers):
        intervals = set()
        for index, line in enumerate(lines):
            if line.currency != currency:
                problems.append(
                    FieldProblem(
                        where(tier, index),
                        f"price is in {line.currency.upper()}, the session in {currency.upper()}: "
                        "a session has one currency",
                        "currency_mismatch",
                    )
                )
            if line.recurring_interval is not None:
                intervals.add((line.recurring_interval, line.recurring_interval_count))
        if len(intervals) > 1:
            problems.append(
                FieldProblem(
                    where(tier, None),
                    "recurring prices in one session must share their billing interval",
                    "interval_mismatch",
                )
            )
    return problems


def _new_line_path(tier: int, index: int | None) -> FieldPath:
    """A line's price in :class:`NewCheckoutSession`, or a tier's line items as a whole."""
    path = _line_items_path(tier)
    return path if index is None else (*path, index, "price_id")


def _line_item(account_id: str, tier: int, position: int, price: Price, item: LineItemSpec) -> CheckoutLineItem:
    line = CheckoutLineItem(
        id=new_id("cli"),
        account_id=account_id,
        tier=tier,
        position=position,
        quantity=item.quantity,
        description=item.description,
        package_id=item.package_id,
    )
    sell(line, price)
    return line


def sell(line: CheckoutLineItem, price: Price) -> None:
    """Snapshot what the price sells into the line: the product's and price's names, amount and billing terms."""
    line.price_id = price.id
    line.product_id = price.product_id
    line.product_name = price.product.name
    line.price_name = price.name
    line.unit_amount_atom = price.unit_amount_atom
    line.currency = price.currency
    line.recurring_interval = price.recurring_interval
    line.recurring_interval_count = price.recurring_interval_count
    line.trial_days = price.trial_days
    # Exact for any scheme: a tiered or package price's line total is not its unit amount times the quantity. A
    # metered price charges nothing now: its usage is billed at each period's end (checkout.metered).
    line.amount_subtotal_atom = 0 if price.usage_type == METERED else amount_for(price, line.quantity)


# --- Discount and amounts -------------------------------------------------------------------------------------------

_COUPON_TERMS: Final = (
    "id",
    "name",
    "discount_type",
    "amount_atom_off",
    "percent_off_bp",
    "trial_days_off",
    "currency",
    "duration",
    "duration_in_months",
    "product_ids",
)


async def _apply_discount(
    session: AsyncSession, checkout: CheckoutSession, coupon_id: str | None, promotion_code: str | None
) -> None:
    """Check the coupon or code now (422 naming the field, with the reason as its type) and keep its terms."""
    field_name = "coupon_id" if coupon_id is not None else "promotion_code"
    lines = [maths.Line(item.amount_subtotal_atom, item.product_id) for item in tier_items(checkout, PRIMARY_TIER)]
    try:
        applied = await redemptions.resolve_discount(
            session,
            checkout.account_id,
            coupon_id=coupon_id,
            promotion_code=promotion_code,
            customer_id=checkout.customer_id,
            currency=checkout.currency,
            lines=lines,
        )
    except NotFound as missing:
        raise InvalidFields.one((field_name,), missing.detail, "not_found") from missing
    except BusinessRuleViolation as refusal:
        raise InvalidFields.one((field_name,), refusal.detail, refusal.code) from refusal
    checkout.coupon_id = applied.coupon.id
    checkout.promotion_code_id = applied.promotion_code.id if applied.promotion_code else None
    checkout.promotion_code = applied.promotion_code.code if applied.promotion_code else None
    checkout.discount = {term: getattr(applied.coupon, term) for term in _COUPON_TERMS}


async def apply_promotion_code(session: AsyncSession, checkout: CheckoutSession, code: str) -> None:
    """A code the customer typed, on a session locked by the caller (open and not being paid, or a 409): checked now
    (a 422 naming ``promotion_code``, with the reason) and applied to every tier's amount. Its use is counted at
    completion."""
    require_changeable(checkout)
    require_not_plan_change(checkout, ("promotion_code",))
    if checkout.promotion_code is not None and promotion_codes.normalize_code(checkout.promotion_code) == (
        promotion_codes.normalize_code(code)
    ):
        return
    if checkout.discount is not None:
        raise InvalidFields.one(("promotion_code",), "the session already has a discount", "discount_applied")
    before = snapshot(checkout)
    await _apply_discount(session, checkout, None, code)
    price_tiers(checkout)
    await session.flush()
    await record_event(
        session, account_id=checkout.account_id, type="checkout_session.updated", obj=checkout, before=before
    )


async def remove_promotion_code(session: AsyncSession, checkout: CheckoutSession) -> None:
    """Take a promotion code off again, on a session locked by the caller (open and not being paid, or a 409), and
    re-price every tier without it. A discount given by ``coupon_id`` alone is the merchant's and stays."""
    require_changeable(checkout)
    if checkout.promotion_code is None:
        return
    before = snapshot(checkout)
    checkout.coupon_id = checkout.promotion_code_id = checkout.promotion_code = None
    checkout.discount = None
    price_tiers(checkout)
    await session.flush()
    await record_event(
        session, account_id=checkout.account_id, type="checkout_session.updated", obj=checkout, before=before
    )


async def remember_customer_locale(session: AsyncSession, checkout: CheckoutSession, locale: str) -> None:
    """What an ``auto`` session's page resolved to when its customer paid: the worker's receipts speak it later,
    with no browser to ask. A session with a locale of its own keeps speaking that one."""
    if checkout.locale != AUTO_LOCALE or checkout.customer_locale == locale:
        return
    await session.execute(
        update(CheckoutSession)
        .where(CheckoutSession.id == checkout.id, CheckoutSession.locale == AUTO_LOCALE)
        .values(customer_locale=locale)
    )


def discount_terms(checkout: CheckoutSession) -> Coupon | None:
    """The coupon as it was when applied (a transient object, never added to the database session)."""
    if checkout.discount is None:
        return None
    return Coupon(**checkout.discount)


def _tier_discount(coupon: Coupon | None, items: Sequence[CheckoutLineItem], currency: str) -> int:
    if coupon is None or not items:
        return 0
    lines = [maths.Line(item.amount_subtotal_atom, item.product_id) for item in items]
    try:
        return maths.compute_discount(coupon, lines, currency).amount_atom
    except BusinessRuleViolation:
        # A fallback tier may sell other products than the primary one the coupon was checked against.
        return 0


def price_tiers(checkout: CheckoutSession) -> None:
    """Recompute every tier's total from the snapshots; the primary tier's parts go to the ``amount_*`` columns,
    with what it charges today (less a trial's recurring part: :mod:`checkstand.checkout.trials`).
    A tier whose lines add up past the currency's cap is refused (422) before anything is stored."""
    coupon = discount_terms(checkout)
    totals: list[int] = []
    for tier in range(tier_count(checkout)):
        items = tier_items(checkout, tier)
        subtotal = sum(item.amount_subtotal_atom for item in items)
        if subtotal > max_amount_atom(checkout.currency):
            path = _line_items_path(tier)
            raise InvalidFields.one(
                path, f"the line items' total must be {amount_limit(checkout.currency)}", "amount_too_large"
            )
        discount = _tier_discount(coupon, items, checkout.currency)
        totals.append(subtotal - discount)
        if tier == PRIMARY_TIER:
            checkout.amount_subtotal_atom = subtotal
            checkout.amount_discount_atom = discount
            checkout.amount_total_atom = subtotal - discount
    checkout.tier_amounts = totals
    checkout.amount_due_today_atom = trials.amount_due_today(checkout, PRIMARY_TIER)


# --- Changing an open session ---------------------------------------------------------------------------------------


async def lock_session(session: AsyncSession, account_id: str, checkout_id: str) -> CheckoutSession:
    """The session, its row locked for this transaction and re-read, so the state checked is the state changed."""
    return await one_or_not_found(
        session, locked(_sessions(account_id).where(CheckoutSession.id == checkout_id)), "checkout_session", checkout_id
    )


async def lock_open_session(session: AsyncSession, secure_token: str) -> CheckoutSession:
    """The open session a customer's token opens, its row locked for this transaction and re-read: what a customer's
    change or payment starts from. An unknown token is a 404, a closed session a 409, and so is a reusable link: each
    visit of its page is a session of its own, which is the one paid."""
    found = await get_by_token(session, secure_token)
    checkout = await lock_session(session, found.account_id, found.id)
    require_open(checkout)
    if not checkout.single_use:
        raise Conflict(
            f"Checkout {checkout.id!r} is a reusable link: open its page to start a purchase.", code="checkout_reusable"
        )
    return checkout


def require_open(checkout: CheckoutSession) -> None:
    current = state(checkout)
    if current != OPEN:
        raise Conflict(
            f"Checkout session {checkout.id!r} is {current}; only an open session can be changed or paid.",
            code="checkout_session_completed" if current == SUCCESS else "checkout_session_expired",
        )


def begin_payment(checkout: CheckoutSession, attempt_id: str) -> None:
    """The attempt pays the session (locked by the caller) from now on: until :func:`end_payment`, nothing that
    changes what it charges may change, and no other attempt may start (a 409 ``checkout_attempt_in_progress``)."""
    _require_unpaid(checkout)
    checkout.paying_attempt_id = attempt_id


def end_payment(checkout: CheckoutSession, attempt_id: str) -> None:
    """The attempt has settled (succeeded, failed, or given up by recovery): the session may change again."""
    if checkout.paying_attempt_id == attempt_id:
        checkout.paying_attempt_id = None


def _require_unpaid(checkout: CheckoutSession) -> None:
    if checkout.paying_attempt_id is not None:
        raise Conflict(
            f"Checkout attempt {checkout.paying_attempt_id!r} of this session is still in progress.",
            code="checkout_attempt_in_progress",
        )


def require_not_plan_change(checkout: CheckoutSession, path: FieldPath) -> None:
    """A plan-change session charges the proration it was priced with: only another plan (re-prorated) may change
    it, never a line added or a code, which the proration would not count."""
    if checkout.changes_subscription_id is not None:
        raise InvalidFields.one(
            path, "a plan-change session only changes by choosing another plan", "plan_change_session"
        )


def require_changeable(checkout: CheckoutSession) -> None:
    """Open, and not being paid: the processor is charging the amount the session had when its payment began."""
    require_open(checkout)
    _require_unpaid(checkout)


async def update_route(
    session: AsyncSession, account_id: str, checkout_id: str, route_id: str | None
) -> CheckoutSession:
    checkout = await lock_session(session, account_id, checkout_id)
    require_changeable(checkout)
    if problems := await _route_problems(session, account_id, route_id, ("processor_route_id",)):
        raise InvalidFields(problems)
    before = snapshot(checkout)
    checkout.processor_route_id = route_id
    await session.flush()
    await record_event(session, account_id=account_id, type="checkout_session.updated", obj=checkout, before=before)
    return checkout


async def add_line_item(
    session: AsyncSession,
    account_id: str,
    checkout_id: str,
    item: LineItemSpec,
    *,
    held_prices: HeldPrices | None = None,
) -> CheckoutLineItem:
    """Add a line to the primary tier of an open session and re-price it; ``held_prices`` as for
    :func:`create_session`."""
    checkout = await lock_session(session, account_id, checkout_id)
    require_changeable(checkout)
    require_not_plan_change(checkout, ("price_id",))
    primary = tier_items(checkout, PRIMARY_TIER)
    if len(primary) >= MAX_LINE_ITEMS:
        raise InvalidFields.one(("price_id",), f"a session has at most {MAX_LINE_ITEMS} line items", "too_long")
    prices, problems = await _sellable_prices(session, account_id, [item], ())
    if problems:
        raise InvalidFields([FieldProblem(p.path[1:], p.msg, p.type) for p in problems])
    price = prices[0]
    # The lines sold already pass these rules: a problem is the new price's.
    lines: list[_Sold] = [*primary, price]
    if problems := _mixture_problems([lines], checkout.currency, lambda _tier, _index: ("price_id",)):
        raise InvalidFields(problems)
    held = await _held_bases(session, account_id, checkout.customer_id, [price], held_prices)
    if problem := _sale_problem(price, {line.price_id for line in primary} | held, checkout.customer_id):
        raise InvalidFields.one(("price_id",), problem, "price_not_sellable")
    before = snapshot(checkout)
    line = _line_item(account_id, PRIMARY_TIER, len(primary), price, item)
    checkout.line_items.append(line)
    price_tiers(checkout)
    await session.flush()
    await record_event(session, account_id=account_id, type="checkout_session.updated", obj=checkout, before=before)
    return line
