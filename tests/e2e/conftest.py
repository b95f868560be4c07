"""Browser tests: Debian's Chromium (never a downloaded browser) driving a real ``checkstand serve``."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.catalog import service as catalog
from checkstand.checkout import lifecycle as checkout_lifecycle
from checkstand.checkout import service as checkout
from checkstand.discounts import coupons, promotion_codes
from checkstand.processors.base import Outcome
from checkstand.processors.models import SimulatorCharge
from tests.payments import flow
from tests.support import Server, connect_url

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
SUCCESS_ORIGIN = "https://shop.test"
CODE = "E2E10"

T = TypeVar("T")


def off_the_loop(work: Callable[[], T]) -> T:
    """Run database work on a thread of its own: Playwright's sync API keeps an event loop on this one."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(work).result()


def run(coroutine: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return off_the_loop(lambda: asyncio.run(coroutine()))


@dataclass(frozen=True)
class Checkout:
    """An open session in the server's database: its page, its id, and the account that owns it."""

    url: str
    id: str
    account_id: str


@pytest.fixture
def browser(server: Server) -> Iterator[Browser]:
    """Chromium for one test, started after the server: Playwright's sync API holds an event loop on this thread
    while it runs, and the server fixtures need this thread's asyncio for their databases."""
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context; the merchant's success URL answers from here (no network leaves the machine)."""
    context = browser.new_context()
    opened = context.new_page()
    opened.route(f"{SUCCESS_ORIGIN}/**", lambda route: route.fulfill(body="<p>Thanks</p>", content_type="text/html"))
    yield opened
    context.close()


def in_database(server: Server, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """``work`` in one committed transaction on the server's database, on a connection of its own."""

    async def transaction() -> T:
        database = connect_url(server.database_url)
        try:
            async with database.writing() as session:
                result = await work(session)
                await session.commit()
                return result
        finally:
            await database.dispose()

    return run(transaction)


def open_checkout(server: Server, *, plans: bool = False) -> Checkout:
    """An open session with the simulator and a 10 % promotion code (:data:`CODE`), made through the service layer:
    a 19.99 USD T-shirt; with ``plans``, a Basic plan (5.00 USD a month) whose family also has Pro (15.00, 14-day
    trial) and Team (40.00)."""
    account_id, _ = off_the_loop(lambda: server.new_account("E2E plans" if plans else "E2E shop"))

    async def populate(session: AsyncSession) -> Checkout:
        await flow.simulator(session, account_id)
        price_id = await (_plan_family(session, account_id) if plans else _tshirt(session, account_id))
        coupon = await coupons.create_coupon(session, account_id, discount_type="percent_off", percent_off_bp=1_000)
        await promotion_codes.create_promotion_code(session, account_id, coupon_id=coupon.id, code=CODE)
        created = await checkout.create_session(
            session,
            account_id,
            checkout.NewCheckoutSession(
                success_url=f"{SUCCESS_ORIGIN}/ok?session={{CHECKOUT_SESSION_ID}}",
                return_url=f"{SUCCESS_ORIGIN}/back",
                line_items=[checkout.LineItemSpec(price_id=price_id)],
            ),
        )
        return Checkout(f"{server.base_url}/c/{created.secure_token}", created.id, account_id)

    return in_database(server, populate)


def open_tiered_checkout(server: Server, quantity: int = 25) -> Checkout:
    """An open session with the simulator selling ``quantity`` API calls at a graduated price with the tiers of
    tests/compat/test_paymentkit_tiered_prices.py: 1 to 10 at 10.00 USD, 11 to 20 at 8.00, 21 and more at 5.00
    plus a 2.50 flat fee."""
    account_id, _ = off_the_loop(lambda: server.new_account("E2E tiers"))

    async def populate(session: AsyncSession) -> Checkout:
        await flow.simulator(session, account_id)
        product = await catalog.create_product(session, account_id, name="API calls")
        price = await catalog.create_price(
            session,
            account_id,
            product_id=product.id,
            currency="usd",
            unit_amount_atom=None,
            billing_scheme="tiered",
            tiers_mode="graduated",
            tiers=[
                {"units_upto": 10, "unit_amount_atom": 1000},
                {"units_upto": 20, "unit_amount_atom": 800},
                {"units_upto": None, "unit_amount_atom": 500, "flat_amount_atom": 250},
            ],
        )
        created = await checkout.create_session(
            session,
            account_id,
            checkout.NewCheckoutSession(
                success_url=f"{SUCCESS_ORIGIN}/ok?session={{CHECKOUT_SESSION_ID}}",
                return_url=f"{SUCCESS_ORIGIN}/back",
                line_items=[checkout.LineItemSpec(price_id=price.id, quantity=quantity)],
            ),
        )
        return Checkout(f"{server.base_url}/c/{created.secure_token}", created.id, account_id)

    return in_database(server, populate)


async def _tshirt(session: AsyncSession, account_id: str) -> str:
    product = await catalog.create_product(session, account_id, name="T-shirt")
    price = await catalog.create_price(
        session, account_id, product_id=product.id, currency="usd", unit_amount_atom=1999
    )
    return price.id


async def _plan_family(session: AsyncSession, account_id: str) -> str:
    """Basic, Pro and Team, monthly, ranked in that order; the Basic price is returned."""
    tiers: list[tuple[str, str]] = []
    for name, amount, trial_days in [("Basic", 500, 0), ("Pro", 1500, 14), ("Team", 4000, 0)]:
        product = await catalog.create_product(session, account_id, name=name)
        price = await catalog.create_price(
            session,
            account_id,
            product_id=product.id,
            currency="usd",
            unit_amount_atom=amount,
            recurring_interval="month",
            trial_days=trial_days,
        )
        tiers.append((product.id, price.id))
    hierarchy = [(product_id, rank) for rank, (product_id, _) in enumerate(tiers, start=1)]
    await catalog.create_family(session, account_id, name="Plans", hierarchy=hierarchy)
    return tiers[0][1]


def charges(server: Server, account_id: str) -> list[int]:
    """What the simulator charged the account, oldest first."""

    async def read(session: AsyncSession) -> list[int]:
        rows = await session.scalars(
            select(SimulatorCharge.amount_atom)
            .where(SimulatorCharge.account_id == account_id, SimulatorCharge.status == Outcome.SUCCEEDED)
            .order_by(SimulatorCharge.created_at)
        )
        return list(rows)

    return in_database(server, read)


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def fill_in(page: Page, number: str = flow.GOOD_CARD) -> None:
    """The customer's details and a card, typed into the pay form the way a customer would."""
    page.get_by_label("Full name").fill("Ada Lovelace")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Card number").fill(number)
    page.get_by_label("Expiry date (MM / YY)").fill("12 / 99")
    page.get_by_label("Security code (CVC)").fill("123")


def apply_code(page: Page, code: str = CODE) -> None:
    """The promotion code typed behind its "Add promotion code" link, and applied."""
    page.get_by_text("Add promotion code").click()
    page.get_by_label("Promotion code", exact=True).fill(code)
    page.get_by_role("button", name="Apply").click()


def expire(server: Server, opened: Checkout) -> None:
    """Close the session as expired in the server's database, through the service layer: no waiting for its
    ``expires_at``."""

    async def close(session: AsyncSession) -> None:
        await checkout_lifecycle.expire_session(session, opened.account_id, opened.id)

    in_database(server, close)


@contextmanager
def landing_on_success_url(page: Page, opened: Checkout) -> Iterator[None]:
    """Expects what runs inside to send the browser on to the session's success URL. Playwright routes only the
    first URL of a redirect chain, so the shop's page never loads after a redirect: the browser asking for it is
    the proof."""
    with page.expect_request(f"{SUCCESS_ORIGIN}/ok?session={opened.id}", timeout=15_000):
        yield


def pay_in_new_tab(page: Page, opened: Checkout) -> None:
    """The session paid with a good card from a tab of its own, closed once it heads to the success URL: the shop's
    page cannot load here (see ``landing_on_success_url``), and the browser's error page, arriving late, would cut
    short whatever ``page`` does next."""
    tab = page.context.new_page()
    try:
        tab.goto(opened.url)
        fill_in(tab)
        with landing_on_success_url(tab, opened):
            tab.get_by_role("button", name=re.compile("^Pay ")).click()
    finally:
        tab.close()
