"""What a checkout offers besides its lines, as Paid's checkouts describe it: the products and the plans (prices) a
customer may pick among on the page, the currencies, informational cards, whether an address or a phone number is
asked for, and whether the link is single-use. The Paid dialect fills these terms (:mod:`checkstand.checkout.offers`);
a PaymentKit session has none, and everything here then reads as it always did.

Paid names a session ``chk_...`` where PaymentKit says ``cs_...``: the same row, the suffix shared. The customer's
success URL may carry ``{CHECKOUT_ID}``, replaced by that name when the customer is sent there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from checkstand.checkout.models import CheckoutSession

CHECKOUT_ID_PLACEHOLDER: Final = "{CHECKOUT_ID}"
DISPLAY_PREFIX: Final = "chk_"
SESSION_PREFIX: Final = "cs_"


@dataclass(frozen=True)
class OfferedProduct:
    """A product on offer and the plans (its prices) the customer picks among, in the merchant's order. ``named``
    says the merchant listed the plans; otherwise it offers all the product's active plans. ``features`` are the
    bullet points the merchant gave for a plan (by price id), shown beside it on the page."""

    product_id: str
    price_ids: Sequence[str]
    named: bool = True
    features: Mapping[str, Sequence[str]] | None = None

    def stored(self) -> dict[str, Any]:
        return {
            "product_id": self.product_id,
            "price_ids": list(self.price_ids),
            "named": self.named,
            "features": {price_id: list(bullets) for price_id, bullets in (self.features or {}).items()},
        }

    @classmethod
    def of(cls, stored: Mapping[str, Any]) -> OfferedProduct:
        return cls(
            product_id=stored["product_id"],
            price_ids=list(stored["price_ids"]),
            named=bool(stored.get("named", True)),
            features=dict(stored.get("features") or {}),
        )


@dataclass(frozen=True)
class CustomCard:
    """An informational card beside the plans ("Enterprise: talk to sales"): never sold through the page."""

    label: str
    price_text: str | None = None
    button_text: str | None = None
    button_url: str | None = None

    def stored(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "price_text": self.price_text,
            "button_text": self.button_text,
            "button_url": self.button_url,
        }

    @classmethod
    def of(cls, stored: Mapping[str, Any]) -> CustomCard:
        return cls(stored["label"], stored.get("price_text"), stored.get("button_text"), stored.get("button_url"))


@dataclass(frozen=True)
class OfferTerms:
    """The terms as a new session stores them; each is already checked (``cancel_url`` normalised)."""

    products: Sequence[OfferedProduct]
    allowed_currencies: Sequence[str]
    custom_cards: Sequence[CustomCard] = ()
    cancel_url: str | None = None
    collect_address: bool = True
    collect_phone: bool = False
    single_use: bool = True
    made_from_id: str | None = None

    def columns(self) -> dict[str, Any]:
        """The session's columns these terms fill."""
        return {
            "offered_products": [product.stored() for product in self.products],
            "allowed_currencies": list(self.allowed_currencies),
            "custom_cards": [card.stored() for card in self.custom_cards],
            "cancel_url": self.cancel_url,
            "collect_address": self.collect_address,
            "collect_phone": self.collect_phone,
            "single_use": self.single_use,
            "made_from_id": self.made_from_id,
        }

    @classmethod
    def of(cls, checkout: CheckoutSession) -> OfferTerms:
        """The terms a session was made with (to make another session on them: a reusable link's visit)."""
        return cls(
            products=[OfferedProduct.of(product) for product in checkout.offered_products],
            allowed_currencies=list(checkout.allowed_currencies),
            custom_cards=[CustomCard.of(card) for card in checkout.custom_cards],
            cancel_url=checkout.cancel_url,
            collect_address=checkout.collect_address,
            collect_phone=checkout.collect_phone,
            single_use=checkout.single_use,
            made_from_id=checkout.made_from_id,
        )


def is_offer(checkout: CheckoutSession) -> bool:
    """Whether the session was made with offer terms (by the Paid dialect)."""
    return bool(checkout.offered_products)


def display_id(session_id: str) -> str:
    """The session's Paid name: ``cs_X`` is ``chk_X``."""
    return DISPLAY_PREFIX + session_id.removeprefix(SESSION_PREFIX)


def cancel_link(checkout: CheckoutSession) -> str | None:
    """Where the page's cancel link leads: an offer's ``cancel_url`` (none when the merchant gave none), else the
    session's return URL."""
    return checkout.cancel_url if is_offer(checkout) else checkout.return_url
