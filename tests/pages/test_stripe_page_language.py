"""A Stripe page's script words in the page's language: given by the server in a JSON data block (never run, so
the strict policy still allows no inline script), which checkout-stripe.js reads instead of English of its own."""

from __future__ import annotations

import html
import json
import re

import httpx

from checkstand.checkout.models import CheckoutSession
from tests.pages.test_stripe_checkout_page import directives, opened  # noqa: F401 - a Stripe-only session

MESSAGES = re.compile(r'<script type="application/json" id="page-messages">(.*?)</script>', re.S)


async def test_the_stripe_script_is_given_its_messages_in_the_page_s_language(
    client: httpx.AsyncClient,
    opened: CheckoutSession,  # noqa: F811
) -> None:
    german = await client.get(f"/c/{opened.secure_token}", headers={"Accept-Language": "de"})
    spanish = await client.get(f"/c/{opened.secure_token}", headers={"Accept-Language": "es"})

    found = MESSAGES.search(german.text)
    assert found is not None
    assert json.loads(html.unescape(found.group(1))) == {
        "card_not_checked": "Ihre Karte konnte nicht geprüft werden. Bitte versuchen Sie es erneut.",
        "form_not_loaded": "Das Kartenformular konnte nicht geladen werden. Prüfen Sie Ihre Verbindung und laden Sie "
        "die Seite neu.",
    }
    in_spanish = MESSAGES.search(spanish.text)
    assert in_spanish is not None
    assert (
        json.loads(in_spanish.group(1))["card_not_checked"]
        == "No se ha podido comprobar tu tarjeta. Vuelve a intentarlo."
    )
    assert "'unsafe-inline'" not in directives(german)["script-src"]
    script = await client.get("/static/checkout-stripe.js")
    assert "messages.card_not_checked" in script.text
    assert "Your card could not be checked" not in script.text
