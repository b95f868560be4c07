"""localstripe (PyPI), a fake but stateful Stripe, run as a subprocess on a free loopback port.

Its own ``localstripe`` command listens on every interface (``::``) and reloads the last run's objects from
``/tmp/localstripe.pickle``; the same aiohttp app is started here on 127.0.0.1 only, with an empty store. Its
test helpers are used by the tests: any ``pm_card_...`` it knows, raw card numbers for payment methods (3-D Secure
cards are 4000002500003155 and friends, 4000000000000341 is declined on charge), and the
``POST /v1/payment_intents/{id}/_authenticate`` endpoint that plays the customer's 3-D Secure challenge.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests import support

# Any key of the right shape: localstripe checks only that a secret key starts with "sk_".
SECRET_KEY = "sk_test_localstripe0000000000000001"
THREE_DS_CARD = "4000002500003155"
CHARGE_DECLINED_METHOD = "pm_card_chargeCustomerFail"
SUCCEEDING_METHOD = "pm_card_visa"

# localstripe predates ``allowed_payment_method_types`` (Stripe API 2026-07-29), which the adapter sends because
# current API versions refuse ``payment_method_types``; the launch teaches it (PaymentIntents and SetupIntents alike)
# the new name for what it already does.
# It doesn't know ``setup_future_usage`` either, which saving a method for off-session charges sends: the launch
# keeps it on the PaymentIntent, as Stripe shows it (the adapter attaches the method to the customer itself).
# ``off_session`` (a renewal's charge, the customer not there) it takes and forgets: the launch keeps it on the
# PaymentIntent too, where tests read how the charge was asked for (Stripe itself doesn't show it). Nor does it know
# a PaymentIntent's ``description``, which an invoice's charge sends ("Invoice 3"): kept, as Stripe shows it.
_LAUNCH = """
import sys
from aiohttp import web
from localstripe.resources import PaymentIntent, SetupIntent
from localstripe.server import app

_create = PaymentIntent.__init__

def _init(self, *args, allowed_payment_method_types=None, setup_future_usage=None, description=None, **kwargs):
    if allowed_payment_method_types is not None:
        kwargs["payment_method_types"] = allowed_payment_method_types
    _create(self, *args, **kwargs)
    self.setup_future_usage = setup_future_usage
    self.description = description

PaymentIntent.__init__ = _init

_create_setup = SetupIntent.__init__

def _init_setup(self, *args, allowed_payment_method_types=None, **kwargs):
    if allowed_payment_method_types is not None:
        kwargs["payment_method_types"] = allowed_payment_method_types
    _create_setup(self, *args, **kwargs)

SetupIntent.__init__ = _init_setup

_api_create = PaymentIntent._api_create.__func__

def _api_create_off_session(cls, confirm=None, off_session=None, **data):
    intent = _api_create(cls, confirm=confirm, off_session=off_session, **data)
    intent.off_session = off_session in (True, "true")
    return intent

PaymentIntent._api_create = classmethod(_api_create_off_session)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
"""


@dataclass
class LocalStripe:
    """A running localstripe and a plain HTTP client for what the tests arrange or check behind the adapter."""

    api_base: str
    process: subprocess.Popen[bytes]

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = httpx.request(
            method, f"{self.api_base}{path}", headers={"Authorization": f"Bearer {SECRET_KEY}"}, timeout=10, **kwargs
        )
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    def card_method(self, number: str) -> str:
        """A payment method for a raw card number (only a fake Stripe takes those)."""
        card = {"card[number]": number, "card[exp_month]": "12", "card[exp_year]": "2030", "card[cvc]": "123"}
        return str(self._call("POST", "/v1/payment_methods", data={"type": "card", **card})["id"])

    def payment_intent(self, intent_id: str) -> dict[str, Any]:
        return self._call("GET", f"/v1/payment_intents/{intent_id}")

    def confirmed_payment_intent(self, method: str, amount: int) -> str:
        """A PaymentIntent of ``amount`` USD cents confirmed with ``method``, made behind the adapter's back."""
        data = {"amount": str(amount), "currency": "usd", "payment_method": method, "confirm": "true"}
        return str(self._call("POST", "/v1/payment_intents", data=data)["id"])

    def refunds_of(self, intent_id: str) -> list[dict[str, Any]]:
        """The refunds localstripe holds for a PaymentIntent (a PaymentIntent has few: one page)."""
        return list(self._call("GET", "/v1/refunds", params={"payment_intent": intent_id, "limit": 100})["data"])

    def payment_intents_with_key(self, idempotency_key: str, metadata_key: str) -> list[dict[str, Any]]:
        """Every PaymentIntent whose metadata carries the key, read page by page."""
        found: list[dict[str, Any]] = []
        params: dict[str, Any] = {"limit": 100}
        while True:
            page = self._call("GET", "/v1/payment_intents", params=params)
            found += [intent for intent in page["data"] if intent["metadata"].get(metadata_key) == idempotency_key]
            if not page["has_more"]:
                return found
            params["starting_after"] = page["data"][-1]["id"]

    def events_about(self, object_id: str) -> list[dict[str, Any]]:
        """The events localstripe recorded about one object, as Stripe would deliver them."""
        events = self._call("GET", "/v1/events", params={"limit": 100})
        found = [event for event in events["data"] if event["data"]["object"].get("id") == object_id]
        while events["has_more"]:
            events = self._call("GET", "/v1/events", params={"limit": 100, "starting_after": events["data"][-1]["id"]})
            found += [event for event in events["data"] if event["data"]["object"].get("id") == object_id]
        return found

    def authenticate(self, intent_id: str, *, success: bool) -> None:
        """The customer passing (or failing) the 3-D Secure challenge, as Stripe.js would report it."""
        secret = self.payment_intent(intent_id)["client_secret"]
        self._call(
            "POST",
            f"/v1/payment_intents/{intent_id}/_authenticate",
            data={"client_secret": secret, "success": "true" if success else "false"},
        )


@contextmanager
def run_localstripe() -> Iterator[LocalStripe]:
    port = support.free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", _LAUNCH, str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    api_base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(process, api_base)
        yield LocalStripe(api_base, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def _wait_until_up(process: subprocess.Popen[bytes], api_base: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"localstripe exited with {process.returncode}")
        try:
            httpx.get(f"{api_base}/v1/balance", headers={"Authorization": f"Bearer {SECRET_KEY}"}, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError("localstripe did not come up")


@pytest.fixture(scope="session")
def localstripe() -> Iterator[LocalStripe]:
    """One localstripe for the run: each test's charges carry their own idempotency keys and accounts, so none sees
    another's."""
    with run_localstripe() as running:
        yield running
