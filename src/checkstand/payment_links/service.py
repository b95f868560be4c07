"""Payment links: a merchant's reusable checkout terms, shared as one URL, each visit opening a session of its own.

A link is a template, never paid itself. Its terms are checked when it is made by the checkout service's own rules
(:func:`checkstand.checkout.service.priced_session`: the same checks and messages as a session's, nothing stored),
and again at every visit, which makes the session from what the link sells then. Visits are public and anonymous,
so each one is counted per client address and link (:func:`open_visit`): a burst from one address stops at the
limit instead of filling the database with sessions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Final

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.checkout import service as checkout_service
from checkstand.checkout.models import CheckoutSession
from checkstand.core import clock
from checkstand.core.errors import Conflict, FieldProblem, InvalidFields, NotFound, RateLimited
from checkstand.core.ids import new_id, new_secret
from checkstand.core.listing import ListParams, ListSpec, apply_list_params
from checkstand.core.lookup import locked, one_or_not_found
from checkstand.core.metadata import merge_metadata
from checkstand.core.pagination import Page, PageParams, paginate
from checkstand.core.urls import origin_of
from checkstand.events.service import record_event, snapshot
from checkstand.payment_links.models import (
    PAYMENT,
    SUBSCRIPTION,
    PaymentLink,
    PaymentLinkLineItem,
    PaymentLinkVisit,
)
from checkstand.payments import plan_change_sessions
from checkstand.subscriptions import service as subscriptions

SECURE_TOKEN_PREFIX: Final = "plt"  # noqa: S105 - a prefix, not a secret
# Where a link's public URL lives: ``{public_url}/l/{secure_token}`` (served by ``pages.payment_links``).
PUBLIC_PATH: Final = "/l"
MODES: Final = (PAYMENT, SUBSCRIPTION)
# Why a visit opened no session, as the visit page tells it apart.
INACTIVE: Final = "payment_link_inactive"
UNAVAILABLE: Final = "payment_link_unavailable"

LIST_SPEC: Final = ListSpec(
    filterable={
        "is_active": PaymentLink.is_active,
        "mode": PaymentLink.mode,
        "customer_id": PaymentLink.customer_id,
    },
    sortable={"created_at": PaymentLink.created_at, "updated_at": PaymentLink.updated_at},
    searchable=(PaymentLink.id, PaymentLink.name),
    created_at=PaymentLink.created_at,
    tiebreak=PaymentLink.id,
)


@dataclass(frozen=True)
class NewPaymentLink:
    """What a merchant asks for; every field is checked by :func:`create_link`."""

    success_url: str
    line_items: Sequence[checkout_service.LineItemSpec]
    name: str | None = None
    mode: str | None = None
    customer_id: str | None = None
    return_url: str | None = None
    expires_in_hours: int = checkout_service.DEFAULT_EXPIRY_HOURS
    coupon_id: str | None = None
    promotion_code: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class VisitLimit:
    """How many sessions one client address may open from one link within ``window`` (from the settings)."""

    window: timedelta
    max_visits_per_ip: int


# --- Reading --------------------------------------------------------------------------------------------------------


def _links(account_id: str) -> Select[PaymentLink]:
    return select(PaymentLink).where(PaymentLink.account_id == account_id)


async def get_link(session: AsyncSession, account_id: str, link_id: str) -> PaymentLink:
    return await one_or_not_found(session, _links(account_id).where(PaymentLink.id == link_id), "payment_link", link_id)


async def list_links(session: AsyncSession, account_id: str, params: ListParams) -> Page[PaymentLink]:
    return await paginate(session, apply_list_params(_links(account_id), LIST_SPEC, params), params.page)


async def find_by_token(session: AsyncSession, secure_token: str) -> PaymentLink | None:
    """The link a public URL's token names; the token is the only key, so no account is given."""
    return await session.scalar(select(PaymentLink).where(PaymentLink.secure_token == secure_token))


async def list_sessions(
    session: AsyncSession, account_id: str, link_id: str, page: PageParams
) -> Page[CheckoutSession]:
    """The sessions the link's visits opened, newest first."""
    await get_link(session, account_id, link_id)
    query = (
        select(CheckoutSession)
        .join(PaymentLinkVisit, PaymentLinkVisit.checkout_session_id == CheckoutSession.id)
        .where(PaymentLinkVisit.payment_link_id == link_id, PaymentLinkVisit.account_id == account_id)
        .order_by(PaymentLinkVisit.created_at.desc(), PaymentLinkVisit.id.desc())
    )
    return await paginate(session, query, page)


async def link_of_session(session: AsyncSession, account_id: str, checkout_id: str) -> str | None:
    """The id of the link whose visit opened the session, if one did."""
    return await session.scalar(
        select(PaymentLinkVisit.payment_link_id).where(
            PaymentLinkVisit.checkout_session_id == checkout_id, PaymentLinkVisit.account_id == account_id
        )
    )


# --- Creating and changing ------------------------------------------------------------------------------------------


def _session_terms(link: PaymentLink) -> checkout_service.NewCheckoutSession:
    """The session a visit of ``link`` opens. Without a return URL, the page's way back leads to the merchant's site
    (the success URL's origin) rather than to its success page."""
    return checkout_service.NewCheckoutSession(
        success_url=link.success_url,
        return_url=link.return_url or origin_of(link.success_url) or link.success_url,
        line_items=[
            checkout_service.LineItemSpec(item.price_id, item.quantity, item.description) for item in link.line_items
        ],
        customer_id=link.customer_id,
        expires_in_hours=link.expires_in_hours,
        coupon_id=link.coupon_id,
        promotion_code=link.promotion_code,
        metadata=link.link_metadata,
    )


async def _check_terms(session: AsyncSession, link: PaymentLink, mode: str | None, path_of_mode: bool) -> str:
    """Check the link's terms as a session of it would be checked (a 422 naming each field), and return its mode:
    the one asked for, which must agree with what the line items sell, or the one they imply."""
    priced = await checkout_service.priced_session(
        session, link.account_id, _session_terms(link), held_prices=subscriptions.held_price_ids
    )
    implied = SUBSCRIPTION if any(item.recurring_interval for item in priced.line_items) else PAYMENT
    if mode is not None and mode != implied:
        wanted = "at least one recurring price" if mode == SUBSCRIPTION else "one-time prices only"
        raise InvalidFields.one(
            ("mode",) if path_of_mode else ("line_items",),
            f"a {mode} link sells {wanted}",
            "mode_mismatch",
        )
    return implied


async def create_link(session: AsyncSession, account_id: str, spec: NewPaymentLink) -> PaymentLink:
    """Check every term (all problems at once, nothing stored when there is one) and record
    ``payment_link.created``."""
    if spec.mode is not None and spec.mode not in MODES:
        raise InvalidFields.one(("mode",), "must be payment or subscription", "enum")
    if not spec.line_items:
        raise InvalidFields.one(("line_items",), "at least one line item is needed", "too_short")
    link = PaymentLink(
        id=new_id("plink"),
        account_id=account_id,
        secure_token=new_secret(SECURE_TOKEN_PREFIX),
        name=spec.name,
        customer_id=spec.customer_id,
        expires_in_hours=spec.expires_in_hours,
        is_active=True,
        coupon_id=spec.coupon_id,
        promotion_code=spec.promotion_code,
        link_metadata=dict(spec.metadata),
        line_items=[
            PaymentLinkLineItem(
                id=new_id("plli"),
                account_id=account_id,
                position=position,
                price_id=item.price_id,
                quantity=item.quantity,
                description=item.description,
            )
            for position, item in enumerate(spec.line_items)
        ],
    )
    link.success_url, problems = checkout_service.check_redirect_url(spec.success_url, ("success_url",))
    if spec.return_url is not None:
        link.return_url, return_problems = checkout_service.check_redirect_url(spec.return_url, ("return_url",))
        problems += return_problems
    if problems:
        raise InvalidFields(problems)
    link.mode = await _check_terms(session, link, spec.mode, path_of_mode=True)
    session.add(link)
    await session.flush()
    await record_event(session, account_id=account_id, type="payment_link.created", obj=link)
    return link


async def update_link(session: AsyncSession, account_id: str, link_id: str, changes: Mapping[str, Any]) -> PaymentLink:
    """``name``, ``is_active``, ``success_url``, ``return_url`` and ``metadata`` (merged by Stripe's rule); what the
    link sells is fixed, as a Stripe link's line items are. Reactivating re-checks the terms: a link whose prices
    can no longer be sold stays inactive (a 422 naming them)."""
    link = await one_or_not_found(
        session, locked(_links(account_id).where(PaymentLink.id == link_id)), "payment_link", link_id
    )
    before = snapshot(link)
    problems: list[FieldProblem] = []
    if "name" in changes:
        link.name = changes["name"]
    if changes.get("success_url") is not None:
        link.success_url, url_problems = checkout_service.check_redirect_url(changes["success_url"], ("success_url",))
        problems += url_problems
    if "return_url" in changes:
        link.return_url = None
        if changes["return_url"] is not None:
            link.return_url, url_problems = checkout_service.check_redirect_url(changes["return_url"], ("return_url",))
            problems += url_problems
    if "metadata" in changes:
        link.link_metadata = merge_metadata(link.link_metadata, changes["metadata"])
    if problems:
        raise InvalidFields(problems)
    if changes.get("is_active") is not None:
        if changes["is_active"] and not link.is_active:
            await _check_terms(session, link, link.mode, path_of_mode=False)
        link.is_active = changes["is_active"]
    await session.flush()
    await record_event(session, account_id=account_id, type="payment_link.updated", obj=link, before=before)
    return link


async def deactivate_link(session: AsyncSession, account_id: str, link_id: str) -> PaymentLink:
    """Visits are refused from now on; the link and the sessions it opened stay readable. Deactivating twice is
    the same as once."""
    return await update_link(session, account_id, link_id, {"is_active": False})


# --- Visiting -------------------------------------------------------------------------------------------------------


async def open_visit(
    session: AsyncSession, secure_token: str, client_ip: str | None, limit: VisitLimit
) -> CheckoutSession:
    """A new session for one visit of the link, made from its terms now, and the visit recorded with it.

    The link's row is locked while its visits from ``client_ip`` are counted and the new one added, so concurrent
    visits from one address can't all pass a count taken before any of them was stored. An unknown token is a 404,
    an inactive link a 409 ``payment_link_inactive``, terms that can no longer be sold a 409
    ``payment_link_unavailable``, and a visit past the limit a 429."""
    found = await find_by_token(session, secure_token)
    if found is None:
        raise NotFound("payment_link", "(token)")
    link = await one_or_not_found(
        session, locked(_links(found.account_id).where(PaymentLink.id == found.id)), "payment_link", found.id
    )
    if not link.is_active:
        raise Conflict(f"Payment link {link.id!r} is no longer active.", code=INACTIVE)
    since = clock.now() - limit.window
    recent = await session.scalar(
        select(func.count())
        .select_from(PaymentLinkVisit)
        .where(
            PaymentLinkVisit.payment_link_id == link.id,
            PaymentLinkVisit.client_ip == client_ip if client_ip is not None else PaymentLinkVisit.client_ip.is_(None),
            PaymentLinkVisit.created_at >= since,
        )
    )
    if (recent or 0) >= limit.max_visits_per_ip:
        raise RateLimited("Too many checkouts opened from this link; try again later.", code="too_many_visits")
    try:
        checkout = await checkout_service.create_session(
            session,
            link.account_id,
            _session_terms(link),
            plan_change=plan_change_sessions.price_session,
            held_prices=subscriptions.held_price_ids,
        )
    except (InvalidFields, Conflict) as refused:
        raise Conflict(f"Payment link {link.id!r} can't be bought now: {refused}", code=UNAVAILABLE) from refused
    session.add(
        PaymentLinkVisit(
            id=new_id("plv"),
            account_id=link.account_id,
            payment_link_id=link.id,
            checkout_session_id=checkout.id,
            client_ip=client_ip,
        )
    )
    await session.flush()
    return checkout
