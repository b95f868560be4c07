"""Browser tests: Debian's Chromium (never a downloaded browser) driving a real ``checkstand serve``."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from sqlalchemy import select

from checkstand.catalog import service as catalog
from checkstand.checkout import service as checkout
from checkstand.discounts import service as discounts
from checkstand.payments.models import SimulatorCharge
from checkstand.payments.processors.base import Outcome
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


def open_checkout(server: Server) -> Checkout:
    """A 19.99 USD T-shirt, a 10 % promotion code and the simulator, made through the service layer."""

    account_id, _ = off_the_loop(lambda: server.new_account("E2E shop"))

    async def populate() -> Checkout:
        database = connect_url(server.database_url)
        try:
            async with database.writing() as session:
                await flow.simulator(session, account_id)
                product = await catalog.create_product(session, account_id, name="T-shirt")
                price = await catalog.create_price(
                    session, account_id, product_id=product.id, currency="usd", unit_amount_atom=1999
                )
                coupon = await discounts.create_coupon(
                    session, account_id, discount_type="percent_off", percent_off_bp=1_000
                )
                await discounts.create_promotion_code(session, account_id, coupon_id=coupon.id, code=CODE)
                created = await checkout.create_session(
                    session,
                    account_id,
                    checkout.NewCheckoutSession(
                        success_url=f"{SUCCESS_ORIGIN}/ok?session={{CHECKOUT_SESSION_ID}}",
                        return_url=f"{SUCCESS_ORIGIN}/back",
                        line_items=[checkout.LineItemSpec(price_id=price.id)],
                    ),
                )
                await session.commit()
                return Checkout(f"{server.base_url}/c/{created.secure_token}", created.id, account_id)
        finally:
            await database.dispose()

    return run(populate)


def charges(server: Server, account_id: str) -> list[int]:
    """What the simulator charged the account, oldest first."""

    async def read() -> list[int]:
        database = connect_url(server.database_url)
        try:
            async with database.reading() as session:
                rows = await session.scalars(
                    select(SimulatorCharge.amount_atom)
                    .where(SimulatorCharge.account_id == account_id, SimulatorCharge.status == Outcome.SUCCEEDED)
                    .order_by(SimulatorCharge.created_at)
                )
                return list(rows)
        finally:
            await database.dispose()

    return run(read)


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
