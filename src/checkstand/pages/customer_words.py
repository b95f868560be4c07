"""What the hosted page tells a customer when a service refuses a field or a processor declines a card: words a
customer understands, in their language, chosen by the field and the problem's machine type (or the decline code),
never by the API's message, which stays as the API documents it."""

from __future__ import annotations

from typing import Final

from checkstand.core.i18n import N_, gettext
from checkstand.processors.base import DeclineCode

# A field's problems by machine type; a type not listed reads as the field's fallback below.
_PROBLEMS: Final[dict[tuple[str, str], str]] = {
    ("name", "missing"): N_("Enter your full name."),
    ("email", "missing"): N_("Enter your email address."),
    ("promotion_code", "discount_applied"): N_("A promotion code is already applied."),
    ("promotion_code", "not_found"): N_("This promotion code doesn't exist. Check it and try again."),
    ("promotion_code", "promotion_code_not_found"): N_("This promotion code doesn't exist. Check it and try again."),
    ("promotion_code", "promotion_code_inactive"): N_("This promotion code is no longer valid."),
    ("promotion_code", "promotion_code_expired"): N_("This promotion code has expired."),
    ("promotion_code", "promotion_code_exhausted"): N_("This promotion code has already been used up."),
    ("promotion_code", "coupon_exhausted"): N_("This promotion code has already been used up."),
    ("promotion_code", "promotion_code_minimum_not_met"): N_(
        "Your order doesn't reach the minimum amount for this promotion code."
    ),
    ("promotion_code", "coupon_not_applicable"): N_("This promotion code doesn't apply to anything in your order."),
    ("promotion_code", "coupon_currency_mismatch"): N_("This promotion code can't be used in this currency."),
    ("phone", "missing"): N_("Enter your phone number."),
    ("currency", "currency_not_offered"): N_("Choose one of the currencies offered."),
    ("plans", "interval_mismatch"): N_("Choose plans that are billed at the same interval."),
}
_FALLBACKS: Final[dict[str, str]] = {
    "name": N_("Enter your full name."),
    "email": N_("Enter a valid email address."),
    "promotion_code": N_("This promotion code can't be used for this order."),
    "phone": N_("Enter a valid phone number."),
    "currency": N_("Choose one of the currencies offered."),
    "plan": N_("Choose one of the plans offered."),
    "plans": N_("Choose one of the plans offered."),
    "address_country": N_("Choose a country."),
}
_ADDRESS: Final = N_("Check this part of your address.")
_REQUIRED: Final = N_("Fill in this field.")
_PLAN_PREFIX: Final = "plan_"

_DECLINES: Final[dict[str, str]] = {
    DeclineCode.GENERIC_DECLINE: N_("Your card was declined."),
    DeclineCode.INSUFFICIENT_FUNDS: N_("Your card has insufficient funds."),
    # Lost and stolen cards get the generic message on purpose: telling a fraudster the card is flagged helps them.
    DeclineCode.LOST_CARD: N_("Your card was declined."),
    DeclineCode.STOLEN_CARD: N_("Your card was declined."),
    DeclineCode.EXPIRED_CARD: N_("Your card has expired."),
    DeclineCode.INCORRECT_CVC: N_("Your card's security code is incorrect."),
    DeclineCode.INCORRECT_NUMBER: N_("Your card number is incorrect."),
    DeclineCode.PROCESSING_ERROR: N_("An error occurred while processing your card. Try again in a little bit."),
    DeclineCode.AUTHENTICATION_FAILED: N_("We are unable to authenticate your payment method."),
}


def problem(field: str, problem_type: str) -> str:
    """A refused field's message, in the current language."""
    if field.startswith(_PLAN_PREFIX):
        field = "plans"
    message = _PROBLEMS.get((field, problem_type)) or _FALLBACKS.get(field)
    if message is None:
        message = _REQUIRED if problem_type == "missing" else _ADDRESS
    return gettext(message)


def decline(decline_code: str | None) -> str:
    """Why the card was refused, as the customer may be told it (never the processor's own words)."""
    return gettext(_DECLINES.get(decline_code or "", N_("Your payment could not be completed.")))
