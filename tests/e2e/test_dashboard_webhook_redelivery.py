"""Webhook redelivery end to end in Chromium: an endpoint added in the dashboard on a real HTTP receiver of this
test (the server allows loopback webhook URLs: ``CHECKSTAND_WEBHOOK_ALLOW_PRIVATE_URLS``, tests/support.py), an event
delivered to it, the endpoint's secret rolled, the event redelivered from the endpoint's page, and the receiver
holding that event signed so that Standard Webhooks' own verifier accepts it with the rolled secret."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.ext.asyncio import AsyncSession
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from checkstand.dashboard import users
from tests.e2e.conftest import in_database, off_the_loop
from tests.e2e.test_accessibility import assert_accessible
from tests.e2e.test_dashboard import PASSWORD
from tests.support import Server

pytestmark = pytest.mark.e2e


@dataclass
class Received:
    """Every request the receiver was sent: its headers and its body, as they arrived."""

    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def of_event(self, event_id: str) -> list[tuple[dict[str, str], bytes]]:
        with self.lock:
            return [(headers, body) for headers, body in self.requests if headers.get("webhook-id") == event_id]

    def wait_for(self, count: int, event_type: str, timeout: float = 20.0) -> list[tuple[dict[str, str], bytes]]:
        """The deliveries of events of ``event_type``, once there are ``count`` of them."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                found = [(h, b) for h, b in self.requests if json.loads(b).get("type") == event_type]
            if len(found) >= count:
                return found
            time.sleep(0.1)
        raise AssertionError(f"{count} {event_type} deliveries expected, the receiver got: {self.requests}")


@contextmanager
def receiver() -> Iterator[tuple[str, Received]]:
    """A webhook receiver on a loopback port of its own, answering 200 to every POST."""
    received = Received()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            with received.lock:
                received.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: the test reads what arrived, not a log."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_redelivered_event_is_signed_with_the_rolled_secret(server: Server, page: Page) -> None:
    account_id, api_key = off_the_loop(lambda: server.new_account("E2E redelivery"))
    email = f"owner-{account_id.lower()}@shop.example"

    async def populate(session: AsyncSession) -> None:
        await users.create_user(session, account_id, email=email, password=PASSWORD)

    in_database(server, populate)
    with receiver() as (url, received):
        page.goto(f"{server.base_url}/dashboard/webhook-endpoints/new")
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_label("URL", exact=True).fill(url)
        page.get_by_role("button", name="Add endpoint").click()
        first_secret = page.get_by_role("textbox", name="Signing secret").input_value()
        assert first_secret.startswith("whsec_")
        endpoint_path = (page.locator("form[action$='/roll-secret']").get_attribute("action") or "").removesuffix(
            "/roll-secret"
        )
        assert re.fullmatch(r"/dashboard/webhook-endpoints/we_\w+", endpoint_path)

        # Something happens in the account: the worker delivers its event, signed with the first secret.
        created = httpx.post(
            f"{server.base_url}/api/{account_id}/customers/",
            json={"email": "ada@example.com"},
            headers={"Authorization": f"Bearer {api_key}"},
        )
        assert created.status_code == 201, created.text
        ((headers, body),) = received.wait_for(1, "customer.created")
        event_id = headers["webhook-id"]
        assert Webhook(first_secret).verify(body, headers)["id"] == event_id

        page.get_by_role("button", name="Roll signing secret").click()
        rolled = page.get_by_role("textbox", name="Signing secret").input_value()
        assert rolled.startswith("whsec_")
        assert rolled != first_secret
        with pytest.raises(WebhookVerificationError):  # the first delivery proves nothing about the rolled secret
            Webhook(rolled).verify(body, headers)

        page.goto(f"{server.base_url}{endpoint_path}")
        redeliver = page.get_by_role("button", name=f"Redeliver event {event_id}")
        expect(redeliver).to_be_visible()
        assert_accessible(page)
        redeliver.click()
        expect(page.get_by_role("status").first).to_contain_text(f"Event {event_id} will be sent again")

        deliveries = received.wait_for(2, "customer.created")
        assert [h["webhook-id"] for h, _ in deliveries] == [event_id, event_id]
        again_headers, again_body = deliveries[1]
        payload = Webhook(rolled).verify(again_body, again_headers)
        assert payload["id"] == event_id
        assert payload["type"] == "customer.created"
        assert received.of_event(event_id) == deliveries
